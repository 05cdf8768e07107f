// The bits of Unicode the tokenizers need: UTF-8 decoding that never throws
// (an invalid byte is one code point of its own), the Unicode 16.0 general
// categories and White_Space (regex \p{..} and \s), the GPT-2 byte <->
// printable-character map, and lossy UTF-8 repair for decoded bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace lorafarm::engine::unicode {

constexpr char32_t kReplacementChar = 0xFFFD;

struct CodePoint {
  char32_t value = 0;   // kReplacementChar for an invalid byte
  std::size_t length = 0;  // bytes consumed, at least 1
};

// The code point starting at `text[pos]` (pos < text.size()).
CodePoint decode_at(std::string_view text, std::size_t pos);
// Byte length of the UTF-8 sequence starting at `text[pos]` (1 for an invalid byte).
inline std::size_t char_length(std::string_view text, std::size_t pos) { return decode_at(text, pos).length; }

void append_utf8(std::string& out, char32_t cp);
std::string to_utf8(char32_t cp);

// Inclusive code point range.
struct CodeRange {
  char32_t first;
  char32_t last;
};

// The ranges of a Unicode 16.0 general category, by short or long name as
// regexes write them ("L", "Letter", "Lu", "Uppercase_Letter"; case, spaces,
// '-' and '_' ignored); nullopt for an unknown name.
std::optional<std::span<const CodeRange>> general_category(std::string_view name);
std::span<const CodeRange> white_space_ranges();  // property White_Space (regex \s)

bool is_letter(char32_t cp);      // general category L*
bool is_number(char32_t cp);      // general category N*
bool is_whitespace(char32_t cp);  // property White_Space (regex \s)

// GPT-2's reversible map from the 256 byte values to printable characters:
// printable Latin-1 bytes map to themselves, the others to U+0100 onwards.
char32_t byte_to_char(uint8_t byte);
std::optional<uint8_t> char_to_byte(char32_t cp);

// `bytes` as valid UTF-8: each maximal invalid subsequence becomes U+FFFD
// (the substitution rule of Unicode ch. 3 that Rust's from_utf8_lossy uses).
std::string repair_utf8(std::string_view bytes);
bool is_valid_utf8(std::string_view bytes);

}  // namespace lorafarm::engine::unicode
