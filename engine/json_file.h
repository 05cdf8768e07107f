// Reading the JSON files of a model folder with errors that name the file.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace lorafarm::engine {

// The parsed file; InvalidInput naming `path` when it is missing, unreadable
// or not valid JSON.
nlohmann::json read_json_file(const std::filesystem::path& path);

// Field access for hand-validated JSON: `where` names the object in error
// messages (e.g. "tokenizer.json: model").
const nlohmann::json& json_field(const nlohmann::json& object, std::string_view key, const std::string& where);
std::string json_string(const nlohmann::json& object, std::string_view key, const std::string& where);
bool json_bool(const nlohmann::json& object, std::string_view key, bool fallback, const std::string& where);
long long json_int(const nlohmann::json& object, std::string_view key, long long fallback, const std::string& where);

}  // namespace lorafarm::engine
