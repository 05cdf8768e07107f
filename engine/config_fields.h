// Typed reads of config.json fields. Every error names the field, with its
// parent object when nested (e.g. 'rope_scaling.factor').
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace lorafarm::engine {

// InvalidInput "config.json: field '<name>' <problem>".
[[noreturn]] void config_field_error(std::string_view name, const std::string& problem);

// True when `field` is present and not null.
bool has_config_field(const nlohmann::json& object, std::string_view field);

// `prefix` names the parent object in errors ("rope_scaling." or "").
int required_config_int(const nlohmann::json& object, std::string_view field, std::string_view prefix = "");
double config_number(const nlohmann::json& object, std::string_view field, double fallback,
                     std::string_view prefix = "");
double required_config_number(const nlohmann::json& object, std::string_view field, std::string_view prefix = "");
bool config_bool(const nlohmann::json& object, std::string_view field, bool fallback, std::string_view prefix = "");

}  // namespace lorafarm::engine
