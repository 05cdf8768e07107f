// The regexes of tokenizer.json (Split pre-tokenizers, Replace normalizers,
// ByteLevel's built-in GPT-2 split), compiled with PCRE2 after rewriting
// Oniguruma syntax (engine/onig_translation.h) so they match as the
// tokenizers library matches them.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace lorafarm::engine {

struct ByteSpan {
  std::size_t begin = 0;
  std::size_t end = 0;
  bool operator==(const ByteSpan&) const = default;
};

// GPT-2's split pattern, which ByteLevel with use_regex applies.
inline constexpr std::string_view kGpt2SplitPattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class TokenizerRegex {
 public:
  // Throws InvalidInput naming the pattern when it cannot be compiled.
  explicit TokenizerRegex(std::string_view pattern);

  // The successive non-empty, non-overlapping matches in `text`, leftmost
  // first as a backtracking engine finds them. `^`/`$` match at line breaks
  // (Oniguruma's Ruby syntax). Bytes of invalid UTF-8 never match.
  std::vector<ByteSpan> find_all(std::string_view text) const;

  const std::string& pattern() const { return pattern_; }

 private:
  struct Code;
  std::string pattern_;
  std::shared_ptr<const Code> code_;
};

}  // namespace lorafarm::engine
