// The spec parsers' shared error helpers (schema/spec_parsing.h).
#include "schema/spec_parsing.h"

#include "schema/error.h"

namespace lorafarm::schema::spec_parsing {

void fail(std::string_view source, std::string_view field, const std::string& what) {
  throw SpecError(std::string(source) + ": " + std::string(field) + ": " + what);
}

std::string shown(const nlohmann::json& value) {
  auto text = value.dump();
  return text.size() > 80 ? text.substr(0, 77) + "..." : text;
}

void check_keys(std::string_view source, std::string_view where, const nlohmann::json& object, const std::set<std::string>& allowed) {
  for (const auto& [key, unused] : object.items()) {
    if (allowed.count(key)) continue;
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
    fail(source, where.empty() ? key : std::string(where) + "." + key, "unknown field; allowed: " + list);
  }
}

}  // namespace lorafarm::schema::spec_parsing
