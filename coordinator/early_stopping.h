// The sweep's scheduler (spec "scheduler"): decides, from a running trial's
// intermediate reports, whether it continues or is stopped (PRUNED). "none"
// always continues; "asha" is asynchronous successive halving on the
// scheduler's metric (search/asha.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "schema/sweep_spec.h"
#include "search/asha.h"

namespace lorafarm::coordinator {

struct StopDecision {
  bool stop = false;
  std::string reason;  // for the event log, e.g. "asha: val_loss 3.21 at step 30 not in the top 1/3"
};

class EarlyStopping {
 public:
  explicit EarlyStopping(const schema::SchedulerSpec& spec);

  bool enabled() const { return asha_.has_value(); }
  const std::string& metric() const { return spec_.metric; }

  // Trial `number` reported `value` of the scheduler's metric at `step`.
  StopDecision report(std::int64_t number, std::int64_t step, double value);
  // Rebuilds the rung records after a restart, without decisions.
  void replay(std::int64_t number, std::int64_t step, double value);

 private:
  schema::SchedulerSpec spec_;
  std::optional<search::Asha> asha_;
};

}  // namespace lorafarm::coordinator
