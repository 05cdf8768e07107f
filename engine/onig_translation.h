// tokenizer.json regexes are written for Oniguruma (the tokenizers library's
// regex engine, Ruby syntax). This rewrites one into PCRE2 syntax with the
// same meaning, Unicode classes spelled out from the Unicode 16.0 tables.
#pragma once

#include <string>
#include <string_view>

namespace lorafarm::engine {

// `pattern` with \p{..}, \P{..}, \p{^..}, \s, \S, \d, \D, \h, \H replaced
// by explicit code point classes (Oniguruma's Unicode meanings), \uHHHH by
// \x{HHHH}, and (?i) kept off lone classes. Everything else is kept as
// written: the rest of the syntax the two engines share. Throws InvalidInput
// naming an unknown property or a construct PCRE2 reads differently (nested
// classes, `&&`, the word escapes \w \W \b \B).
std::string onig_to_pcre2(std::string_view pattern);

}  // namespace lorafarm::engine
