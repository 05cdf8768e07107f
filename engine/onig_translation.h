// tokenizer.json regexes are written for Oniguruma (the tokenizers library's
// regex engine, Ruby syntax). This rewrites one into PCRE2 syntax with the
// same meaning, Unicode classes spelled out from the Unicode 16.0 tables.
#pragma once

#include <string>
#include <string_view>

namespace lorafarm::engine {

// `pattern` with \p{..}, \P{..}, \p{^..}, \s, \S, \d, \D, \w, \W, \h, \H
// replaced by explicit code point classes (Oniguruma's Unicode meanings),
// and \uHHHH by \x{HHHH}. Everything else is kept as written: the rest of
// the syntax the two engines share. Throws InvalidInput naming an unknown
// property or a construct PCRE2 reads differently (nested classes, `&&`).
std::string onig_to_pcre2(std::string_view pattern);

}  // namespace lorafarm::engine
