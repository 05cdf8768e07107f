// Learning rate per step: linear warm-up from warmup_init to the peak, then
// constant, cosine or linear decay to end_lr over decay_steps.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace lorafarm::engine {

struct LrSchedule {
  enum class Kind { kConstant, kCosine, kLinear };
  Kind kind = Kind::kConstant;
  double peak = 1e-5;
  int warmup = 0;           // steps of linear warm-up
  double warmup_init = 0;   // learning rate at step 0 of the warm-up
  int decay_steps = 0;      // steps of decay after warm-up (0 = the rest of training)
  double end = 0;           // learning rate at the end of the decay

  // Rate for optimizer step `step` (0-based) out of `total_steps`.
  double at(int64_t step, int64_t total_steps) const;

  // Parses mlx-lm's block {"name": "cosine_decay"|"linear_schedule"|..., "warmup": N,
  // "warmup_init": x, "arguments": [init, decay_steps, end]} or the short form
  // {"name": "cosine", "warmup": N, "end": x}; `peak` is the configured learning_rate.
  static LrSchedule from_json(const nlohmann::json& json, double peak);
  nlohmann::json to_json() const;
};

}  // namespace lorafarm::engine
