// JSON values written as YAML that YAML 1.1 readers (PyYAML, which mlx-lm
// uses) and YAML 1.2 readers read back as the same types.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace lorafarm::schema {

// A JSON object as a YAML block mapping (nested objects indented by two
// spaces; lists and objects inside lists in flow style). Strings are
// double-quoted; floats always carry a "." so that YAML 1.1 reads 1e-05 as a
// float (written 1.0e-05), not as a string.
std::string yaml_text(const nlohmann::json& object);

}  // namespace lorafarm::schema
