// The sweep spec's preset trials ("kind": "mlx_lm" | "hf_trainer"): their
// fields, parsed once the search space and `fixed` are known.
#pragma once

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "schema/sweep_spec.h"

namespace lorafarm::schema {

// The fields a trial of this preset may have (besides kind, timeout_seconds,
// env, stop_grace_seconds).
const std::set<std::string>& preset_trial_fields(PresetKind kind);

// Fills spec.trial.preset from `trial` (needs spec.space, spec.fixed,
// spec.model, spec.data).
void parse_trial_preset(std::string_view source, const nlohmann::json& trial, SweepSpec& spec);

// The preset's collectors with `trial.metrics` added ("replace": true drops the
// preset's).
MetricsSpec preset_trial_metrics(std::string_view source, const nlohmann::json& trial, PresetKind kind,
                                 const std::function<std::optional<bool>(const std::string&)>& maximize_of);

// The strings of a preset trial that may hold {placeholders}: (field path,
// text).
std::vector<std::pair<std::string, std::string>> preset_templates(const nlohmann::json& trial);

}  // namespace lorafarm::schema
