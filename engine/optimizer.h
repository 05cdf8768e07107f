// AdamW over a list of trainable parameters, with bias correction (Kingma &
// Ba, Algorithm 1) and decoupled weight decay (Loshchilov & Hutter). Bias
// correction is on by default: the fortunes reference runs show that without
// it (MLX's default) LoRA at 1e-3 ends at ppl 34.7 instead of 19.9.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/parameter.h"

namespace lorafarm::engine {

struct AdamWOptions {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool bias_correction = true;
};

class AdamW {
 public:
  // Allocates the two moment buffers of every parameter (the optimizer state).
  AdamW(std::span<const ParamRef> params, const AdamWOptions& options);

  // One update with learning rate `lr` from the parameters' current grads:
  //   m = β1 m + (1−β1) g,  v = β2 v + (1−β2) g²,
  //   p −= lr·(m̂ / (√v̂ + ε) + wd·p),  m̂ = m/(1−β1ᵗ), v̂ = v/(1−β2ᵗ).
  void step(std::span<const ParamRef> params, double lr);

  // The same update for `count` entries of parameter `index` (the first at
  // `first`, then every `stride`), bias-corrected as those entries' t-th
  // update rather than the optimizer's. For parameters whose entries take
  // part in only some steps (nested-rank LoRA): Adam's correction assumes
  // the moments averaged t gradients, and with the global count a dimension
  // used in a fifth of the steps would see √v̂ too small and move ~2× as far.
  // Does not advance step_count().
  void update_entries(const ParamRef& param, std::size_t index, int64_t first, int64_t count, int64_t stride,
                      int64_t t, double lr);
  // Counts a step whose updates were made with update_entries.
  void count_step() { ++t_; }

  int64_t step_count() const { return t_; }
  int64_t state_floats() const;
  // The moment buffers, in parameter order (for checkpoints).
  std::vector<std::vector<float>>& first_moments() { return m_; }
  std::vector<std::vector<float>>& second_moments() { return v_; }
  void set_step_count(int64_t t) { t_ = t; }

 private:
  AdamWOptions options_;
  int64_t t_ = 0;
  std::vector<std::vector<float>> m_, v_;
};

// Scales all gradients so their global L2 norm is at most max_norm (no-op
// when max_norm <= 0); returns the norm before clipping.
double clip_grad_norm(std::span<const ParamRef> params, double max_norm);

}  // namespace lorafarm::engine
