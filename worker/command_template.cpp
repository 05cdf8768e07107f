// Placeholder substitution: a single left-to-right pass, so a value that
// itself contains "{x}" is never expanded again.
#include "worker/command_template.h"

#include <cctype>

namespace lorafarm::worker {
namespace {

template <typename Quote>
std::string substitute_with(std::string_view text, const std::map<std::string, std::string>& values, Quote quote) {
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '{') {
      const auto close = text.find('}', i + 1);
      if (close != std::string_view::npos) {
        const auto it = values.find(std::string(text.substr(i + 1, close - i - 1)));
        if (it != values.end()) {
          out += quote(it->second);
          i = close + 1;
          continue;
        }
      }
    }
    out += text[i++];
  }
  return out;
}

}  // namespace

std::string placeholder_text(const nlohmann::json& value) {
  if (value.is_null()) return "";
  if (value.is_string()) return value.get<std::string>();
  return value.dump();
}

std::string substitute(std::string_view text, const std::map<std::string, std::string>& values) {
  return substitute_with(text, values, [](const std::string& v) { return v; });
}

std::string shell_quote(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

std::string substitute_shell(std::string_view text, const std::map<std::string, std::string>& values) {
  return substitute_with(text, values, [](const std::string& v) { return shell_quote(v); });
}

std::string param_env_name(std::string_view name) {
  std::string out = "LORAFARM_PARAM_";
  for (char c : name) out += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : '_';
  return out;
}

}  // namespace lorafarm::worker
