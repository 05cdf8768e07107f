// Warm-up + constant / cosine / linear learning-rate schedules.
#include "engine/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "engine/error.h"

namespace lorafarm::engine {

double LrSchedule::at(int64_t step, int64_t total_steps) const {
  if (step < warmup) {
    const double f = static_cast<double>(step + 1) / static_cast<double>(warmup);
    return warmup_init + (peak - warmup_init) * f;
  }
  if (kind == Kind::kConstant) return peak;
  const int64_t span = decay_steps > 0 ? decay_steps : std::max<int64_t>(1, total_steps - warmup);
  const double progress = std::min(1.0, static_cast<double>(step - warmup) / static_cast<double>(span));
  if (kind == Kind::kLinear) return peak + (end - peak) * progress;
  return end + (peak - end) * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
}

LrSchedule LrSchedule::from_json(const nlohmann::json& json, double peak) {
  LrSchedule s;
  s.peak = peak;
  if (json.is_null()) return s;
  if (json.is_string()) return from_json(nlohmann::json{{"name", json}}, peak);
  if (!json.is_object()) throw InvalidInput("lr_schedule must be an object or a name");
  const std::string name = json.value("name", std::string("constant"));
  if (name == "constant") {
    s.kind = Kind::kConstant;
  } else if (name == "cosine" || name == "cosine_decay") {
    s.kind = Kind::kCosine;
  } else if (name == "linear" || name == "linear_schedule" || name == "linear_decay") {
    s.kind = Kind::kLinear;
  } else {
    throw InvalidInput("lr_schedule.name '" + name + "' is not one of constant, cosine, linear");
  }
  s.warmup = json.value("warmup", 0);
  s.warmup_init = json.value("warmup_init", 0.0);
  s.end = json.value("end", 0.0);
  s.decay_steps = json.value("decay_steps", 0);
  if (json.contains("arguments")) {  // mlx-lm: [init, decay_steps, end] (cosine_decay: [init, steps, end?])
    const auto& a = json["arguments"];
    if (!a.is_array() || a.empty()) throw InvalidInput("lr_schedule.arguments must be a non-empty array");
    s.peak = a[0].get<double>();
    if (a.size() > 1) s.decay_steps = a[1].get<int>();
    if (a.size() > 2) s.end = a[2].get<double>();
  }
  if (s.warmup < 0 || s.decay_steps < 0) throw InvalidInput("lr_schedule: warmup and decay_steps must be >= 0");
  return s;
}

nlohmann::json LrSchedule::to_json() const {
  const char* names[] = {"constant", "cosine", "linear"};
  return {{"name", names[static_cast<int>(kind)]}, {"warmup", warmup}, {"warmup_init", warmup_init},
          {"decay_steps", decay_steps}, {"end", end}, {"peak", peak}};
}

}  // namespace lorafarm::engine
