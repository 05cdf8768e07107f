// JavaScript-compatible whitespace and length on UTF-8 text.
#include "jinja/text.h"

namespace lorafarm::jinja {
namespace {

// Length of the UTF-8 sequence that starts with `lead` (1 for invalid bytes).
std::size_t sequence_length(unsigned char lead) {
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  if (lead >= 0xE0) return lead <= 0xEF ? 3 : 1;
  if (lead >= 0xC2) return 2;
  return 1;
}

// The code point at text[at] and its byte length; invalid bytes decode to
// themselves with length 1 (never whitespace).
std::pair<char32_t, std::size_t> decode_at(std::string_view text, std::size_t at) {
  const auto lead = static_cast<unsigned char>(text[at]);
  const std::size_t length = sequence_length(lead);
  if (length == 1 || at + length > text.size()) return {lead, 1};
  char32_t code = lead & (0xFF >> (length + 1));
  for (std::size_t i = 1; i < length; ++i) {
    const auto c = static_cast<unsigned char>(text[at + i]);
    if ((c & 0xC0) != 0x80) return {lead, 1};
    code = (code << 6) | (c & 0x3F);
  }
  return {code, length};
}

bool is_js_whitespace(char32_t c) {
  if (c <= 32) return c == 32 || (c >= 9 && c <= 13);
  return c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000 || c == 0xFEFF;
}

}  // namespace

std::size_t whitespace_at(std::string_view text, std::size_t at) {
  if (at >= text.size()) return 0;
  const auto [code, length] = decode_at(text, at);
  return is_js_whitespace(code) ? length : 0;
}

std::string trim_start(std::string_view text) {
  std::size_t at = 0;
  while (const std::size_t n = whitespace_at(text, at)) at += n;
  return std::string(text.substr(at));
}

std::string trim_end(std::string_view text) {
  std::size_t end = 0;  // just past the last non-whitespace character
  for (std::size_t at = 0; at < text.size();) {
    const auto [code, length] = decode_at(text, at);
    at += length;
    if (!is_js_whitespace(code)) end = at;
  }
  return std::string(text.substr(0, end));
}

std::string trim(std::string_view text) { return trim_end(trim_start(text)); }

std::vector<std::string> code_points(std::string_view text) {
  std::vector<std::string> points;
  for (std::size_t at = 0; at < text.size();) {
    const std::size_t length = decode_at(text, at).second;
    points.emplace_back(text.substr(at, length));
    at += length;
  }
  return points;
}

std::size_t utf16_length(std::string_view text) {
  std::size_t units = 0;
  for (std::size_t at = 0; at < text.size();) {
    const auto [code, length] = decode_at(text, at);
    units += code >= 0x10000 ? 2 : 1;
    at += length;
  }
  return units;
}

}  // namespace lorafarm::jinja
