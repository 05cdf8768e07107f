// Added-token matching with the tokenizers library's rules: leftmost-longest
// match, single_word tokens only between non-word characters, lstrip/rstrip
// swallowing adjacent whitespace.
#include "engine/added_tokens.h"

#include <algorithm>

#include "engine/unicode.h"

namespace lorafarm::engine {
namespace {

bool is_word_char(char32_t c) { return c == '_' || unicode::is_letter(c) || unicode::is_number(c); }

// Start of the code point that ends just before `end`.
std::size_t previous_char(std::string_view text, std::size_t end) {
  std::size_t start = end - 1;
  while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
  return start;
}

}  // namespace

AddedTokenMatcher::AddedTokenMatcher(std::vector<Pattern> patterns) : patterns_(std::move(patterns)) {
  std::erase_if(patterns_, [](const Pattern& p) { return p.text.empty(); });
  std::stable_sort(patterns_.begin(), patterns_.end(),
                   [](const Pattern& a, const Pattern& b) { return a.text.size() > b.text.size(); });
  by_first_byte_.resize(256);
  for (std::size_t i = 0; i < patterns_.size(); ++i) {
    by_first_byte_[static_cast<unsigned char>(patterns_[i].text[0])].push_back(i);
  }
}

std::vector<AddedTokenMatcher::Segment> AddedTokenMatcher::split(std::string_view text) const {
  std::vector<Segment> out;
  std::size_t plain_start = 0;  // start of the text not yet emitted
  std::size_t pos = 0;
  while (pos < text.size()) {
    const Pattern* found = nullptr;
    for (const std::size_t index : by_first_byte_[static_cast<unsigned char>(text[pos])]) {
      if (text.compare(pos, patterns_[index].text.size(), patterns_[index].text) == 0) {
        found = &patterns_[index];  // the longest, since patterns are sorted by length
        break;
      }
    }
    if (!found) {
      ++pos;
      continue;
    }
    std::size_t start = pos;
    std::size_t stop = pos + found->text.size();
    const AddedToken& token = *found->token;
    if (token.single_word) {
      const bool word_before = start > 0 && is_word_char(unicode::decode_at(text, previous_char(text, start)).value);
      const bool word_after = stop < text.size() && is_word_char(unicode::decode_at(text, stop).value);
      if (word_before || word_after) {
        pos = stop;  // the search resumes after the rejected match
        continue;
      }
    }
    if (token.lstrip) {
      while (start > plain_start) {
        const std::size_t prev = previous_char(text, start);
        if (!unicode::is_whitespace(unicode::decode_at(text, prev).value)) break;
        start = prev;
      }
    }
    if (token.rstrip) {
      while (stop < text.size()) {
        const unicode::CodePoint c = unicode::decode_at(text, stop);
        if (!unicode::is_whitespace(c.value)) break;
        stop += c.length;
      }
    }
    if (start > plain_start) out.push_back({{plain_start, start}, std::nullopt});
    out.push_back({{start, stop}, token.id});
    plain_start = pos = stop;
  }
  if (plain_start < text.size()) out.push_back({{plain_start, text.size()}, std::nullopt});
  return out;
}

}  // namespace lorafarm::engine
