// The engine's peak-memory prediction of a sweep's engine trials, handed to
// the coordinator for placement: the coordinator library does not link the
// engine (docs/design.md), the `lorafarm` binary links both.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>

#include "schema/sweep_spec.h"

namespace lorafarm::cli {

// For an engine sweep: params -> predicted peak RSS (MB) of that trial, as
// `lorafarm info MODEL --estimate METHOD` predicts it, for the longest
// sequence the trial may see (max_seq_length, cut at the model's context).
// Empty for command sweeps.
std::function<std::optional<double>(const nlohmann::json&)> engine_peak_predictor(const schema::SweepSpec& spec);

}  // namespace lorafarm::cli
