// JSON file reading and checked field access; every error is an InvalidInput
// whose message starts with the file (and field) it is about.
#include "engine/json_file.h"

#include <fstream>
#include <sstream>

#include "engine/error.h"

namespace lorafarm::engine {

nlohmann::json read_json_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InvalidInput(path.string() + ": cannot open file");
  std::ostringstream text;
  text << in.rdbuf();
  try {
    return nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for a number like 1e400
    throw InvalidInput(path.string() + ": malformed JSON: " + e.what());
  }
}

const nlohmann::json& json_field(const nlohmann::json& object, std::string_view key, const std::string& where) {
  if (!object.is_object()) throw InvalidInput(where + ": expected a JSON object");
  const auto it = object.find(key);
  if (it == object.end()) throw InvalidInput(where + ": missing field \"" + std::string(key) + "\"");
  return *it;
}

std::string json_string(const nlohmann::json& object, std::string_view key, const std::string& where) {
  const nlohmann::json& value = json_field(object, key, where);
  if (!value.is_string()) throw InvalidInput(where + "." + std::string(key) + ": expected a string, got " + value.dump());
  return value.get<std::string>();
}

bool json_bool(const nlohmann::json& object, std::string_view key, bool fallback, const std::string& where) {
  if (!object.is_object()) throw InvalidInput(where + ": expected a JSON object");
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) throw InvalidInput(where + "." + std::string(key) + ": expected true or false, got " + it->dump());
  return it->get<bool>();
}

long long json_int(const nlohmann::json& object, std::string_view key, long long fallback, const std::string& where) {
  if (!object.is_object()) throw InvalidInput(where + ": expected a JSON object");
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  if (!it->is_number_integer()) throw InvalidInput(where + "." + std::string(key) + ": expected an integer, got " + it->dump());
  return it->get<long long>();
}

}  // namespace lorafarm::engine
