// Hand-written matchers for the known split regexes. Each alternative of the
// regex is one branch below, tried in the regex's order; the comments give
// the alternative and how backtracking resolves it.
#include "engine/split_pattern.h"

#include "engine/unicode.h"

namespace lorafarm::engine {
namespace {

constexpr std::string_view kGpt2 =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
// The same without the final `|\s+`: with the "Isolated" split behaviour the
// text left unmatched becomes its own piece, so both give identical pieces.
constexpr std::string_view kGpt2Short =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";
constexpr std::string_view kLlama3 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kQwen2 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

enum class CharClass { kLetter, kNumber, kSpace, kOther };

// The text as code points with their byte offsets (offset[n] = text size).
struct Chars {
  std::vector<char32_t> cp;
  std::vector<CharClass> cls;
  std::vector<std::size_t> offset;
  std::size_t size() const { return cp.size(); }
};

Chars decode(std::string_view text) {
  Chars chars;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const unicode::CodePoint c = unicode::decode_at(text, pos);
    chars.cp.push_back(c.value);
    chars.offset.push_back(pos);
    CharClass cls = CharClass::kOther;
    if (unicode::is_letter(c.value)) {
      cls = CharClass::kLetter;
    } else if (unicode::is_number(c.value)) {
      cls = CharClass::kNumber;
    } else if (unicode::is_whitespace(c.value)) {
      cls = CharClass::kSpace;
    }
    chars.cls.push_back(cls);
    pos += c.length;
  }
  chars.offset.push_back(text.size());
  return chars;
}

char32_t ascii_lower(char32_t c) { return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c; }

// 's|'t|'re|'ve|'m|'ll|'d at i; returns the end index or 0.
std::size_t match_contraction(const Chars& s, std::size_t i, bool ignore_case) {
  if (s.cp[i] != '\'' || i + 1 >= s.size()) return 0;
  auto at = [&](std::size_t k) { return ignore_case ? ascii_lower(s.cp[k]) : s.cp[k]; };
  const char32_t a = at(i + 1);
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
  if (i + 2 >= s.size()) return 0;
  const char32_t b = at(i + 2);
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return i + 3;
  return 0;
}

std::size_t run_end(const Chars& s, std::size_t i, CharClass cls) {
  while (i < s.size() && s.cls[i] == cls) ++i;
  return i;
}

// ` ?X+` for a class X: an optional space only when X follows it.
std::size_t match_space_then_run(const Chars& s, std::size_t i, CharClass cls) {
  std::size_t j = i;
  if (s.cp[j] == ' ' && j + 1 < s.size() && s.cls[j + 1] == cls) ++j;
  if (s.cls[j] != cls) return 0;
  return run_end(s, j, cls);
}

// `\s+(?!\S)` then `\s+`: a whitespace run, minus its last character when a
// non-space follows (that one goes with the next word), unless it is alone.
std::size_t match_whitespace(const Chars& s, std::size_t i) {
  if (s.cls[i] != CharClass::kSpace) return 0;
  const std::size_t j = run_end(s, i, CharClass::kSpace);
  if (j == s.size() || j - 1 == i) return j;
  return j - 1;
}

bool is_newline(char32_t c) { return c == '\r' || c == '\n'; }

std::size_t match_gpt2(const Chars& s, std::size_t i) {
  if (std::size_t end = match_contraction(s, i, false)) return end;
  if (std::size_t end = match_space_then_run(s, i, CharClass::kLetter)) return end;
  if (std::size_t end = match_space_then_run(s, i, CharClass::kNumber)) return end;
  if (std::size_t end = match_space_then_run(s, i, CharClass::kOther)) return end;
  return match_whitespace(s, i);
}

std::size_t match_llama3(const Chars& s, std::size_t i, std::size_t max_digits) {
  if (std::size_t end = match_contraction(s, i, true)) return end;
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (s.cls[i] == CharClass::kLetter) return run_end(s, i, CharClass::kLetter);
  if (s.cls[i] != CharClass::kNumber && !is_newline(s.cp[i]) && i + 1 < s.size() &&
      s.cls[i + 1] == CharClass::kLetter) {
    return run_end(s, i + 1, CharClass::kLetter);
  }
  // \p{N}{1,3} (Llama-3) or \p{N} (Qwen2)
  if (s.cls[i] == CharClass::kNumber) {
    std::size_t j = i;
    while (j < s.size() && j - i < max_digits && s.cls[j] == CharClass::kNumber) ++j;
    return j;
  }
  // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
  if (std::size_t end = match_space_then_run(s, i, CharClass::kOther)) {
    while (end < s.size() && is_newline(s.cp[end])) ++end;
    return end;
  }
  if (s.cls[i] != CharClass::kSpace) return 0;
  // `\s*[\r\n]+`: backtracking leaves the run right after its last newline.
  const std::size_t j = run_end(s, i, CharClass::kSpace);
  for (std::size_t k = j; k > i; --k) {
    if (is_newline(s.cp[k - 1])) return k;
  }
  return match_whitespace(s, i);
}

}  // namespace

std::optional<SplitPattern> recognize_split_pattern(std::string_view regex) {
  if (regex == kGpt2 || regex == kGpt2Short) return SplitPattern::kGpt2;
  if (regex == kLlama3) return SplitPattern::kLlama3;
  if (regex == kQwen2) return SplitPattern::kQwen2;
  return std::nullopt;
}

std::vector<ByteSpan> find_split_matches(SplitPattern pattern, std::string_view text) {
  const Chars s = decode(text);
  std::vector<ByteSpan> matches;
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t end = 0;
    switch (pattern) {
      case SplitPattern::kGpt2: end = match_gpt2(s, i); break;
      case SplitPattern::kLlama3: end = match_llama3(s, i, 3); break;
      case SplitPattern::kQwen2: end = match_llama3(s, i, 1); break;
    }
    if (end == 0) {  // no alternative matches here: the regex moves on
      ++i;
      continue;
    }
    matches.push_back({s.offset[i], s.offset[end]});
    i = end;
  }
  return matches;
}

}  // namespace lorafarm::engine
