// A finished single-objective trial, as sampler tests feed histories.
#pragma once

#include <cstdint>
#include <utility>

#include "search/sampler.h"

namespace lorafarm::search {

inline Observation completed_trial(std::int64_t number, Params params, double value) {
  Observation o;
  o.trial_number = number;
  o.params = std::move(params);
  o.status = ObservationStatus::Completed;
  o.objectives = {value};
  return o;
}

}  // namespace lorafarm::search
