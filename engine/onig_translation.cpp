// Oniguruma (Ruby syntax) -> PCRE2 pattern text. PCRE2 10.42's own \p tables
// are Unicode 14 while the tokenizers library's Oniguruma uses Unicode 16, so
// every class is written out from engine/unicode_categories.inc.
#include "engine/onig_translation.h"

#include <algorithm>
#include <cstdio>
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

// The class an escape letter stands for (\s, \d, \w, \h and capitals), if any.
std::optional<Ranges> escape_class(char letter, std::string_view pattern) {
  Ranges ranges;
  switch (letter | 0x20) {  // lower case
    case 's': ranges.assign(unicode::white_space_ranges().begin(), unicode::white_space_ranges().end()); break;
    case 'd': ranges = category("Nd", pattern); break;
    case 'w':  // Oniguruma's Unicode word: letters, marks, decimal digits, connector punctuation
      for (const char* name : {"L", "M", "Nd", "Pc"}) {
        const Ranges part = category(name, pattern);
        ranges.insert(ranges.end(), part.begin(), part.end());
      }
      break;
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

// The ranges as a class of their own, or as items of the class being written.
std::string as_class(const Ranges& ranges, bool in_class) {
  if (in_class) return class_items(ranges);
  std::string out(1, '[');
  out += class_items(ranges);
  out += ']';
  return out;
}

// Translates the escape at pattern[i] ('\\'); returns the text and advances i past it.
std::string translate_escape(std::string_view pattern, std::size_t& i, bool in_class) {
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
    return as_class(ranges, in_class);
  }
  if (const auto ranges = escape_class(letter, pattern)) {
    i += 2;
    return as_class(*ranges, in_class);
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

}  // namespace

std::string onig_to_pcre2(std::string_view pattern) {
  std::string out;
  bool in_class = false;
  std::size_t i = 0;
  while (i < pattern.size()) {
    const char c = pattern[i];
    if (out.size() > kMaxTranslatedSize) {
      throw InvalidInput("regex \"" + std::string(pattern.substr(0, 200)) +
                         "\": too large once its Unicode classes are written out (over 4 MiB)");
    }
    if (c == '\\') {
      out += translate_escape(pattern, i, in_class);
      continue;
    }
    if (in_class && c == '[' && pattern.compare(i, 2, "[:") != 0) {
      throw InvalidInput("regex \"" + std::string(pattern) + "\": nested character classes are not supported");
    }
    if (in_class && pattern.compare(i, 2, "&&") == 0) {
      throw InvalidInput("regex \"" + std::string(pattern) + "\": class intersection && is not supported");
    }
    if (!in_class && c == '[') {
      in_class = true;
      out += c;
      ++i;
      // A ']' right after '[' or '[^' is a literal in both engines.
      if (i < pattern.size() && pattern[i] == '^') out += pattern[i++];
      if (i < pattern.size() && pattern[i] == ']') out += "\\]", ++i;
      continue;
    }
    if (in_class && c == ']') in_class = false;
    if (in_class && c == '[') {  // a POSIX class [:name:] stays as it is
      const std::size_t close = pattern.find(":]", i + 2);
      const std::size_t end = close == std::string_view::npos ? pattern.size() : close + 2;
      out.append(pattern.substr(i, end - i));
      i = end;
      continue;
    }
    out += c;
    ++i;
  }
  return out;
}

}  // namespace lorafarm::engine
