// The pre-tokenizer split regexes of byte-level BPE tokenizers, matched by
// hand (std::regex has no \p{L}): GPT-2's and the one Llama-3 shares with
// tiktoken's cl100k, and Qwen2's variant of it (single digits).
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>
#include <vector>

namespace lorafarm::engine {

enum class SplitPattern { kGpt2, kLlama3, kQwen2 };

// Which known pattern `regex` (as written in tokenizer.json) is, if any.
std::optional<SplitPattern> recognize_split_pattern(std::string_view regex);

struct ByteSpan {
  std::size_t begin = 0;
  std::size_t end = 0;
  bool operator==(const ByteSpan&) const = default;
};

// The successive non-overlapping matches of `pattern` in `text`, as a
// backtracking regex engine finds them (leftmost, first alternative wins).
std::vector<ByteSpan> find_split_matches(SplitPattern pattern, std::string_view text);

}  // namespace lorafarm::engine
