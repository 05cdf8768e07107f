#include "coordinator/early_stopping.h"

#include <fmt/format.h>

namespace lorafarm::coordinator {

EarlyStopping::EarlyStopping(const schema::SchedulerSpec& spec) : spec_(spec) {
  if (spec.type != "asha") return;
  asha_.emplace(search::AshaOptions{spec.min_resource, spec.max_resource, spec.reduction_factor, spec.brackets});
}

StopDecision EarlyStopping::report(std::int64_t number, std::int64_t step, double value) {
  if (!asha_) return {};
  const double minimised = spec_.maximize ? -value : value;
  const auto decision = asha_->report(number, static_cast<double>(step), minimised);
  // At the full budget the trial is finishing anyway: stopping it would only
  // throw its result away.
  if (decision == search::AshaDecision::Continue || static_cast<double>(step) >= spec_.max_resource) return {};
  return {true, fmt::format("asha: {} {:.6g} at step {} is not in the top 1/{:g} of its rung", spec_.metric, value, step,
                            spec_.reduction_factor)};
}

void EarlyStopping::replay(std::int64_t number, std::int64_t step, double value) {
  if (asha_) asha_->report(number, static_cast<double>(step), spec_.maximize ? -value : value);
}

}  // namespace lorafarm::coordinator
