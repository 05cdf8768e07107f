// Typed reads of config.json fields with errors that name them.
#include "engine/config_fields.h"

#include <cstdint>

#include "engine/error.h"

namespace lorafarm::engine {

using nlohmann::json;

void config_field_error(std::string_view name, const std::string& problem) {
  throw InvalidInput("config.json: field '" + std::string(name) + "' " + problem);
}

bool has_config_field(const json& object, std::string_view field) {
  const auto it = object.find(field);
  return it != object.end() && !it->is_null();
}

int required_config_int(const json& object, std::string_view field, std::string_view prefix) {
  const std::string name = std::string(prefix) + std::string(field);
  if (!has_config_field(object, field)) {
    throw InvalidInput("config.json: missing required field '" + name + "'");
  }
  const json& value = object.at(field);
  if (!value.is_number_integer() || value.get<int64_t>() <= 0 || value.get<int64_t>() > INT32_MAX) {
    config_field_error(name, "must be a positive integer, got " + value.dump());
  }
  return value.get<int>();
}

double required_config_number(const json& object, std::string_view field, std::string_view prefix) {
  const std::string name = std::string(prefix) + std::string(field);
  if (!has_config_field(object, field)) {
    throw InvalidInput("config.json: missing required field '" + name + "'");
  }
  const json& value = object.at(field);
  if (!value.is_number()) config_field_error(name, "must be a number, got " + value.dump());
  return value.get<double>();
}

double config_number(const json& object, std::string_view field, double fallback, std::string_view prefix) {
  if (!has_config_field(object, field)) return fallback;
  return required_config_number(object, field, prefix);
}

bool config_bool(const json& object, std::string_view field, bool fallback, std::string_view prefix) {
  if (!has_config_field(object, field)) return fallback;
  const json& value = object.at(field);
  if (!value.is_boolean()) {
    config_field_error(std::string(prefix) + std::string(field), "must be true or false, got " + value.dump());
  }
  return value.get<bool>();
}

}  // namespace lorafarm::engine
