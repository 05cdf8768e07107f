// Unicode classification by binary search over generated code point ranges,
// and the UTF-8 coding rules of RFC 3629.
#include "engine/unicode.h"

#include <algorithm>
#include <array>
#include <span>
#include <string>

namespace lorafarm::engine::unicode {
namespace {

struct GeneralCategory {
  std::string_view short_name;
  std::string_view long_name;
  std::span<const CodeRange> ranges;
};

#include "engine/unicode_categories.inc"

// A property name as Oniguruma compares them: lower case, without ' ', '-', '_'.
std::string loose_name(std::string_view name) {
  std::string out;
  for (const char c : name) {
    if (c == ' ' || c == '-' || c == '_') continue;
    out += static_cast<char>(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
  }
  return out;
}

bool in_ranges(std::span<const CodeRange> ranges, char32_t cp) {
  auto it = std::upper_bound(ranges.begin(), ranges.end(), cp,
                             [](char32_t value, const CodeRange& range) { return value < range.first; });
  if (it == ranges.begin()) return false;
  --it;
  return cp <= it->last;
}

bool is_continuation(unsigned char byte) { return (byte & 0xC0) == 0x80; }

// Length of the longest valid prefix (1..4) of a UTF-8 sequence at `pos`, and
// whether it is complete; follows the well-formed byte table of Unicode 3.9.
struct Scan {
  std::size_t length;
  bool complete;
  char32_t value;
};

Scan scan(std::string_view text, std::size_t pos) {
  const auto byte0 = static_cast<unsigned char>(text[pos]);
  if (byte0 < 0x80) return {1, true, byte0};
  std::size_t need = 0;
  char32_t value = 0;
  unsigned char low = 0x80, high = 0xBF;  // allowed range of the second byte
  if (byte0 >= 0xC2 && byte0 <= 0xDF) {
    need = 1;
    value = byte0 & 0x1F;
  } else if (byte0 >= 0xE0 && byte0 <= 0xEF) {
    need = 2;
    value = byte0 & 0x0F;
    if (byte0 == 0xE0) low = 0xA0;
    if (byte0 == 0xED) high = 0x9F;
  } else if (byte0 >= 0xF0 && byte0 <= 0xF4) {
    need = 3;
    value = byte0 & 0x07;
    if (byte0 == 0xF0) low = 0x90;
    if (byte0 == 0xF4) high = 0x8F;
  } else {
    return {1, false, kReplacementChar};
  }
  std::size_t length = 1;
  for (std::size_t i = 0; i < need; ++i) {
    if (pos + length >= text.size()) return {length, false, kReplacementChar};
    const auto byte = static_cast<unsigned char>(text[pos + length]);
    const bool ok = i == 0 ? (byte >= low && byte <= high) : is_continuation(byte);
    if (!ok) return {length, false, kReplacementChar};
    value = (value << 6) | (byte & 0x3F);
    ++length;
  }
  return {length, true, value};
}

struct ByteMap {
  std::array<char32_t, 256> to_char{};
  std::array<int, 0x180> to_byte{};  // every mapped character is below U+0180
};

ByteMap make_byte_map() {
  ByteMap map;
  map.to_byte.fill(-1);
  char32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    map.to_char[b] = printable ? static_cast<char32_t>(b) : next++;
    map.to_byte[map.to_char[b]] = b;
  }
  return map;
}

const ByteMap& byte_map() {
  static const ByteMap map = make_byte_map();
  return map;
}

}  // namespace

CodePoint decode_at(std::string_view text, std::size_t pos) {
  const Scan s = scan(text, pos);
  if (!s.complete) return {kReplacementChar, 1};
  return {s.value, s.length};
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string to_utf8(char32_t cp) {
  std::string out;
  append_utf8(out, cp);
  return out;
}

bool is_letter(char32_t cp) {
  if (cp < 0x80) return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
  return in_ranges(kCategory_L, cp);
}

bool is_number(char32_t cp) {
  if (cp < 0x80) return cp >= '0' && cp <= '9';
  return in_ranges(kCategory_N, cp);
}

bool is_whitespace(char32_t cp) { return in_ranges(kWhiteSpaceRanges, cp); }

std::optional<std::span<const CodeRange>> general_category(std::string_view name) {
  const std::string wanted = loose_name(name);
  for (const GeneralCategory& category : kGeneralCategories) {
    if (loose_name(category.short_name) == wanted || loose_name(category.long_name) == wanted) return category.ranges;
  }
  return std::nullopt;
}

std::span<const CodeRange> white_space_ranges() { return kWhiteSpaceRanges; }

char32_t byte_to_char(uint8_t byte) { return byte_map().to_char[byte]; }

std::optional<uint8_t> char_to_byte(char32_t cp) {
  if (cp >= byte_map().to_byte.size()) return std::nullopt;
  const int byte = byte_map().to_byte[cp];
  if (byte < 0) return std::nullopt;
  return static_cast<uint8_t>(byte);
}

std::string repair_utf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    const Scan s = scan(bytes, pos);
    if (s.complete) {
      out.append(bytes.substr(pos, s.length));
    } else {
      append_utf8(out, kReplacementChar);
    }
    pos += s.length;
  }
  return out;
}

bool is_valid_utf8(std::string_view bytes) {
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    const Scan s = scan(bytes, pos);
    if (!s.complete) return false;
    pos += s.length;
  }
  return true;
}

}  // namespace lorafarm::engine::unicode
