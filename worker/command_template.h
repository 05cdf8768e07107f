// Turning a trial's parameters into a command line and an environment:
// "{name}" placeholders in argv templates, LORAFARM_PARAM_<NAME> variables.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace lorafarm::worker {

// A placeholder's text: strings as they are, numbers in JSON notation
// (shortest round-trip form), booleans true/false; absent (inactive) -> "".
std::string placeholder_text(const nlohmann::json& value);

// Replaces every {name} whose name is a key of `values`; other braces are kept.
std::string substitute(std::string_view text, const std::map<std::string, std::string>& values);
// As substitute, but each value is single-quoted for /bin/sh.
std::string substitute_shell(std::string_view text, const std::map<std::string, std::string>& values);
std::string shell_quote(std::string_view text);

// LORAFARM_PARAM_LEARNING_RATE for "learning_rate".
std::string param_env_name(std::string_view name);

}  // namespace lorafarm::worker
