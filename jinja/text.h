// UTF-8 text helpers with JavaScript's definitions, which the reference
// renderer uses: its whitespace (String.prototype.trim), UTF-16 lengths.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace lorafarm::jinja {

// Bytes of the JavaScript whitespace character starting at text[at] (space,
// \t..\r, U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F,
// U+3000, U+FEFF), or 0 when there is none.
std::size_t whitespace_at(std::string_view text, std::size_t at);

std::string trim(std::string_view text);
std::string trim_start(std::string_view text);
std::string trim_end(std::string_view text);

// The code points of `text`, each as its UTF-8 bytes (invalid bytes stand alone).
std::vector<std::string> code_points(std::string_view text);

// Length in UTF-16 code units, as JavaScript's String.length counts.
std::size_t utf16_length(std::string_view text);

}  // namespace lorafarm::jinja
