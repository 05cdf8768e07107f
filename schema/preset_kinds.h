// What each trial preset contributes (schema/trial_preset.h): its known
// parameters, its collectors and its expansion. Internal to schema/.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "schema/trial_preset.h"

namespace lorafarm::schema {

using Substitute = std::function<std::string(std::string_view)>;

const std::map<std::string, ParamTarget>& mlx_lm_targets();
nlohmann::json mlx_lm_metrics();
PresetRun expand_mlx_lm(const TrialPreset& preset, const nlohmann::json& values, const Substitute& substitute);

const std::map<std::string, ParamTarget>& hf_trainer_targets();
nlohmann::json hf_trainer_metrics();
PresetRun expand_hf_trainer(const TrialPreset& preset, const nlohmann::json& values, const Substitute& substitute);

// The value `name` passes to its target after the target's conversion;
// nullopt when the trial has no value for it (an inactive parameter).
// Throws SpecError when a conversion cannot be made (alpha without a rank).
std::optional<nlohmann::json> target_value(const std::string& name, const ParamTarget& target,
                                           const nlohmann::json& values);

using Flags = std::vector<std::pair<std::string, nlohmann::json>>;

// The command-line arguments of `generated` flags with `user` flags set over
// them (same name: replaced in place; else appended; false or null: removed).
// A flag's value: true gives the bare flag, a list one argument per item,
// anything else its text. User strings are substituted, generated values not.
std::vector<std::string> flag_arguments(Flags generated, const Flags& user, const Substitute& substitute);

// `value` with {placeholders} substituted in every string inside it.
nlohmann::json substituted(const nlohmann::json& value, const Substitute& substitute);

// A number pattern for the collectors' regexes: stops before a sentence's
// full stop ("3.435." gives 3.435), and takes nan/inf (which are then skipped).
inline constexpr const char* kNumber = R"([-+]?(?:\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|nan|inf))";

}  // namespace lorafarm::schema
