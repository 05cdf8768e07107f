// tokenizer.json `added_tokens`: strings (special tokens such as
// "<|endoftext|>" among them) that are cut out of the text before BPE and
// become their own ids.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/tokenizer_regex.h"
#include "engine/tokenizer.h"

namespace lorafarm::engine {

struct AddedToken {
  TokenId id = 0;
  std::string content;
  bool single_word = false;  // only when not inside a word
  bool lstrip = false;       // also swallows the whitespace before it
  bool rstrip = false;       // also swallows the whitespace after it
  bool normalized = false;   // matched in the normalized text rather than the raw text
  bool special = false;      // skipped when decoding
};

class AddedTokenMatcher {
 public:
  struct Pattern {
    std::string text;  // what is searched: the content, or its normalized form
    const AddedToken* token;
  };
  explicit AddedTokenMatcher(std::vector<Pattern> patterns);

  struct Segment {
    ByteSpan span;
    std::optional<TokenId> id;  // set when the segment is an added token
  };
  // `text` cut into plain segments and added tokens (leftmost-longest
  // matches), covering the whole text; empty for an empty text.
  std::vector<Segment> split(std::string_view text) const;

 private:
  std::vector<Pattern> patterns_;  // longest first
  std::vector<std::vector<std::size_t>> by_first_byte_;
};

}  // namespace lorafarm::engine
