// The YAML writer of schema/yaml_text.h: block mappings, flow lists, quoted
// strings.
#include "schema/yaml_text.h"

#include <cmath>
#include <regex>

namespace lorafarm::schema {
namespace {

using nlohmann::json;

// A float in a form YAML 1.1's float rule accepts: a "." before any exponent.
std::string yaml_float(double value) {
  std::string text = json(value).dump();
  if (text.find('.') != std::string::npos) return text;
  const auto e = text.find_first_of("eE");
  text.insert(e == std::string::npos ? text.size() : e, ".0");
  return text;
}

std::string scalar(const json& value) {
  if (value.is_number_float()) {
    const double v = value.get<double>();
    if (std::isnan(v)) return ".nan";
    if (std::isinf(v)) return v > 0 ? ".inf" : "-.inf";
    return yaml_float(v);
  }
  return value.dump();  // null, true/false, integers, and strings quoted with
                        // JSON's escapes (valid YAML escapes)
}

std::string key_text(const std::string& key) {
  static const std::regex plain(R"(^[A-Za-z_][A-Za-z0-9_]*$)");
  return std::regex_match(key, plain) && key != "true" && key != "false" && key != "null" && key != "yes" &&
                 key != "no" && key != "on" && key != "off"
             ? key
             : json(key).dump();
}

std::string flow(const json& value) {
  if (value.is_array()) {
    std::string out = "[";
    for (std::size_t i = 0; i < value.size(); ++i) out += (i ? ", " : "") + flow(value[i]);
    return out + "]";
  }
  if (value.is_object()) {
    std::string out = "{";
    bool first = true;
    for (const auto& [k, v] : value.items()) {
      out += (first ? "" : ", ") + json(k).dump() + ": " + flow(v);
      first = false;
    }
    return out + "}";
  }
  return scalar(value);
}

void block(const json& object, const std::string& indent, std::string& out) {
  for (const auto& [k, v] : object.items()) {
    out += indent + key_text(k) + ":";
    if (v.is_object() && !v.empty()) {
      out += "\n";
      block(v, indent + "  ", out);
    } else {
      out += ' ';  // appended piecewise: GCC 12 warns (-Wrestrict, a false positive) on " " + string
      out += flow(v);
      out += '\n';
    }
  }
}

}  // namespace

std::string yaml_text(const json& object) {
  std::string out;
  block(object, "", out);
  return out;
}

}  // namespace lorafarm::schema
