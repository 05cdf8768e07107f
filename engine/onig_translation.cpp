// Oniguruma (Ruby syntax) -> PCRE2 pattern text. PCRE2 10.42's own \p tables
// are Unicode 14 while the tokenizers library's Oniguruma uses Unicode 16, so
// every class is written out from engine/unicode_categories.inc.
#include "engine/onig_translation.h"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <vector>

#include "engine/error.h"
#include "engine/unicode.h"

namespace lorafarm::engine {
namespace {

using unicode::CodeRange;
using Ranges = std::vector<CodeRange>;

constexpr char32_t kMaxCodePoint = 0x10FFFF;
// Real patterns expand to a few hundred KiB (a class such as \p{L} is ~700
// ranges); far more means a pattern that would only exhaust memory.
constexpr std::size_t kMaxTranslatedSize = std::size_t{4} << 20;

Ranges sorted_union(Ranges ranges) {
  std::sort(ranges.begin(), ranges.end(), [](const CodeRange& a, const CodeRange& b) { return a.first < b.first; });
  Ranges out;
  for (const CodeRange& r : ranges) {
    if (!out.empty() && r.first <= out.back().last + 1) {
      out.back().last = std::max(out.back().last, r.last);
    } else {
      out.push_back(r);
    }
  }
  return out;
}

// The code points outside `ranges` (sorted, disjoint), surrogates left out:
// PCRE2 in UTF mode cannot name them and valid UTF-8 never holds them.
Ranges complement(const Ranges& ranges) {
  Ranges out;
  char32_t next = 0;
  for (const CodeRange& r : ranges) {
    if (r.first > next) out.push_back({next, r.first - 1});
    next = r.last + 1;
  }
  if (next <= kMaxCodePoint) out.push_back({next, kMaxCodePoint});
  Ranges no_surrogates;
  for (const CodeRange& r : out) {
    if (r.last < 0xD800 || r.first > 0xDFFF) {
      no_surrogates.push_back(r);
      continue;
    }
    if (r.first < 0xD800) no_surrogates.push_back({r.first, 0xD7FF});
    if (r.last > 0xDFFF) no_surrogates.push_back({0xE000, r.last});
  }
  return no_surrogates;
}

Ranges category(std::string_view name, std::string_view pattern) {
  const auto ranges = unicode::general_category(name);
  if (!ranges) {
    throw InvalidInput("regex \"" + std::string(pattern) + "\": unsupported Unicode property \\p{" + std::string(name) +
                       "} (supported: the general categories, e.g. L, Lu, N, Nd, P, S, M, Z, C)");
  }
  return Ranges(ranges->begin(), ranges->end());
}

// The class an escape letter stands for (\s, \d, \h and capitals), if any.
std::optional<Ranges> escape_class(char letter, std::string_view pattern) {
  Ranges ranges;
  switch (letter | 0x20) {  // lower case
    case 's': ranges.assign(unicode::white_space_ranges().begin(), unicode::white_space_ranges().end()); break;
    case 'd': ranges = category("Nd", pattern); break;
    case 'h': ranges = {{'0', '9'}, {'A', 'F'}, {'a', 'f'}}; break;  // Ruby syntax: a hex digit
    default: return std::nullopt;
  }
  ranges = sorted_union(std::move(ranges));
  return (letter >= 'A' && letter <= 'Z') ? complement(ranges) : ranges;
}

// The ranges as class items: "\x{41}-\x{5A}\x{61}-\x{7A}...".
std::string class_items(const Ranges& ranges) {
  std::string out;
  char buffer[32];
  for (const CodeRange& r : ranges) {
    if (r.first == r.last) {
      std::snprintf(buffer, sizeof buffer, "\\x{%X}", static_cast<unsigned>(r.first));
    } else {
      std::snprintf(buffer, sizeof buffer, "\\x{%X}-\\x{%X}", static_cast<unsigned>(r.first), static_cast<unsigned>(r.last));
    }
    out += buffer;
  }
  return out;
}

// Where an escape stands: inside a [...] class or not, and under (?i) or not.
struct Context {
  bool in_class = false;
  bool caseless = false;
};

// The ranges as a class of their own, or as items of the class being written.
// Under (?i) Oniguruma does not case-fold a property on its own (`(?i)\p{Lu}`
// leaves "a" alone) but does fold a [...] class holding one (`(?i)[\p{Lu}]`
// takes "a"); PCRE2 folds explicit ranges, so a lone class turns folding off.
std::string as_class(const Ranges& ranges, Context where) {
  if (where.in_class) return class_items(ranges);
  std::string out(where.caseless ? "(?-i:[" : "[");
  out += class_items(ranges);
  out += where.caseless ? "])" : "]";
  return out;
}

// Translates the escape at pattern[i] ('\\'); returns the text and advances i past it.
std::string translate_escape(std::string_view pattern, std::size_t& i, Context where) {
  if (i + 1 >= pattern.size()) throw InvalidInput("regex \"" + std::string(pattern) + "\": ends with a lone backslash");
  const char letter = pattern[i + 1];
  if (letter == 'p' || letter == 'P') {
    const std::size_t close = pattern.find('}', i);
    if (i + 2 >= pattern.size() || pattern[i + 2] != '{' || close == std::string_view::npos) {
      throw InvalidInput("regex \"" + std::string(pattern) + "\": \\" + letter + " needs a {name}");
    }
    std::string_view name = pattern.substr(i + 3, close - i - 3);
    bool negated = letter == 'P';
    if (!name.empty() && name.front() == '^') {
      negated = !negated;
      name.remove_prefix(1);
    }
    i = close + 1;
    Ranges ranges = category(name, pattern);
    if (negated) ranges = complement(ranges);
    return as_class(ranges, where);
  }
  if (const auto ranges = escape_class(letter, pattern)) {
    i += 2;
    return as_class(*ranges, where);
  }
  if (letter == 'w' || letter == 'W' || letter == 'b' || letter == 'B') {
    // Oniguruma's word characters are a Latin-1 table below U+0100 (with
    // '\xB2' and '\xBD') and UTS #18 "word" above; no real file uses them.
    throw InvalidInput("regex \"" + std::string(pattern) + "\": \\" + letter +
                       " is not supported (Oniguruma's word characters differ from PCRE2's)");
  }
  if (letter == 'u' && i + 6 <= pattern.size()) {  // \uHHHH
    const std::string hex(pattern.substr(i + 2, 4));
    i += 6;
    return "\\x{" + hex + "}";
  }
  // Any other escape means the same in both engines; copy it with its whole
  // (possibly multi-byte) character.
  std::size_t length = 2;
  while (i + length < pattern.size() && (static_cast<unsigned char>(pattern[i + length]) & 0xC0) == 0x80) ++length;
  std::string out(pattern.substr(i, length));
  i += length;
  return out;
}

// Inline options: the letters of `(?i-m:` or `(?i)` at pattern[i] ('(' then
// '?'), rewritten for PCRE2 (Ruby's m is PCRE2's s: dot matches newline), and
// whether i is on after them. Returns "" when pattern[i] opens no option group.
struct Options {
  std::string text;  // "(?i:" / "(?s)" ...
  bool caseless = false;
  bool scoped = false;  // ends with ':' (a group) rather than ')' (rest of the group)
};

std::optional<Options> read_options(std::string_view pattern, std::size_t i, bool caseless) {
  if (pattern.compare(i, 2, "(?") != 0) return std::nullopt;
  Options options{"(?", caseless, false};
  bool on = true;
  for (std::size_t k = i + 2; k < pattern.size(); ++k) {
    const char c = pattern[k];
    if (c == ':' || c == ')') {
      if (k == i + 2) return std::nullopt;  // "(?:" and "(?)" are not option groups
      options.text += c;
      options.scoped = c == ':';
      return options;
    }
    if (c == '-') {
      on = false;
    } else if (c == 'i') {
      options.caseless = on;
    } else if (c != 'm' && c != 'x') {
      return std::nullopt;  // a lookaround, named group, comment ...
    }
    options.text += c == 'm' ? 's' : c;
  }
  return std::nullopt;
}

// Walks the pattern: escapes and classes are translated, groups tracked for
// the scope of (?i).
class Translator {
 public:
  explicit Translator(std::string_view pattern) : pattern_(pattern) {}

  std::string run() {
    while (i_ < pattern_.size()) {
      if (out_.size() > kMaxTranslatedSize) {
        throw InvalidInput("regex \"" + std::string(pattern_.substr(0, 200)) +
                           "\": too large once its Unicode classes are written out (over 4 MiB)");
      }
      step();
    }
    return std::move(out_);
  }

 private:
  void step() {
    const char c = pattern_[i_];
    if (c == '\\') {
      out_ += translate_escape(pattern_, i_, {in_class_, caseless_});
    } else if (in_class_) {
      class_char(c);
    } else if (c == '[') {
      open_class();
    } else if (c == '(') {
      open_group();
    } else {
      if (c == ')' && !groups_.empty()) {
        caseless_ = groups_.back();
        groups_.pop_back();
      }
      out_ += c;
      ++i_;
    }
  }

  void open_group() {
    const std::optional<Options> options = read_options(pattern_, i_, caseless_);
    if (!options) {
      groups_.push_back(caseless_);
      out_ += '(';
      ++i_;
      return;
    }
    if (options->scoped) groups_.push_back(caseless_);
    caseless_ = options->caseless;
    out_ += options->text;
    i_ += options->text.size();
  }

  void open_class() {
    in_class_ = true;
    out_ += '[';
    ++i_;
    // A ']' right after '[' or '[^' is a literal in both engines.
    if (i_ < pattern_.size() && pattern_[i_] == '^') out_ += pattern_[i_++];
    if (i_ < pattern_.size() && pattern_[i_] == ']') {
      out_ += "\\]";
      ++i_;
    }
  }

  void class_char(char c) {
    if (pattern_.compare(i_, 2, "&&") == 0) {
      throw InvalidInput("regex \"" + std::string(pattern_) + "\": class intersection && is not supported");
    }
    if (c == '[' && pattern_.compare(i_, 2, "[:") != 0) {
      throw InvalidInput("regex \"" + std::string(pattern_) + "\": nested character classes are not supported");
    }
    if (c == '[') {  // a POSIX class [:name:] stays as it is
      const std::size_t close = pattern_.find(":]", i_ + 2);
      const std::size_t end = close == std::string_view::npos ? pattern_.size() : close + 2;
      out_.append(pattern_.substr(i_, end - i_));
      i_ = end;
      return;
    }
    if (c == ']') in_class_ = false;
    out_ += c;
    ++i_;
  }

  std::string_view pattern_;
  std::string out_;
  std::size_t i_ = 0;
  bool in_class_ = false;
  bool caseless_ = false;
  std::vector<bool> groups_;  // caseless_ outside each open group
};

}  // namespace

std::string onig_to_pcre2(std::string_view pattern) { return Translator(pattern).run(); }

}  // namespace lorafarm::engine
