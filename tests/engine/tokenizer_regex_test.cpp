// tokenizer.json regexes (PCRE2 after the Oniguruma rewrite) and the Unicode
// normal forms (ICU pinned to Unicode 9.0), on examples worked out by hand from
// the regex semantics and the Unicode Character Database.
#include "engine/tokenizer_regex.h"

#include <gtest/gtest.h>

#include "engine/error.h"
#include "engine/onig_translation.h"
#include "engine/unicode_normalization.h"

namespace lorafarm::engine {
namespace {

// The message of the InvalidInput that `f` throws ("" when it throws none).
template <typename F>
std::string invalid_input_message(F&& f) {
  try {
    f();
  } catch (const InvalidInput& e) {
    return e.what();
  }
  return "";
}

constexpr std::string_view kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

std::vector<std::string> split(std::string_view pattern, std::string_view text) {
  std::vector<std::string> pieces;
  for (const ByteSpan& span : TokenizerRegex(pattern).find_all(text)) {
    pieces.emplace_back(text.substr(span.begin, span.end - span.begin));
  }
  return pieces;
}

using Pieces = std::vector<std::string>;

TEST(TokenizerSplitPattern, Gpt2) {
  // A run of spaces leaves its last space to the next word; "'s" is a
  // contraction; digits and punctuation take one leading space.
  EXPECT_EQ(split(kGpt2SplitPattern, "Hello world's  123 !!\n\n"),
            (Pieces{"Hello", " world", "'s", " ", " 123", " !!", "\n\n"}));
  // Contractions are case-sensitive in GPT-2's pattern.
  EXPECT_EQ(split(kGpt2SplitPattern, "I'M I'm"), (Pieces{"I", "'", "M", " I", "'m"}));
  // \p{L} covers non-ASCII letters; a tab before a word stays alone.
  EXPECT_EQ(split(kGpt2SplitPattern, "h\xC3\xA9llo \xE4\xBD\xA0\xE5\xA5\xBD\tw"),
            (Pieces{"h\xC3\xA9llo", " \xE4\xBD\xA0\xE5\xA5\xBD", "\t", "w"}));
}

TEST(TokenizerSplitPattern, Llama3AndQwen2) {
  // One non-letter (here a space) may lead a word; digits in threes;
  // punctuation keeps its trailing newlines; a space run leaves its last
  // space to the next word, which "\s+" then takes alone before digits.
  EXPECT_EQ(split(kLlama3Pattern, "Hello world's  12345 !!\n\nA"),
            (Pieces{"Hello", " world", "'s", " ", " ", "123", "45", " !!\n\n", "A"}));
  // Case-insensitive contractions; "\s*[\r\n]+" ends after the last newline.
  EXPECT_EQ(split(kLlama3Pattern, "I'M\r\n  x"), (Pieces{"I", "'M", "\r\n", " ", " x"}));
  EXPECT_EQ(split(kLlama3Pattern, "$hello"), (Pieces{"$hello"}));
  EXPECT_EQ(split(kQwen2Pattern, "12345"), (Pieces{"1", "2", "3", "4", "5"}));
  EXPECT_EQ(split(kLlama3Pattern, "x \n"), (Pieces{"x", " \n"}));
}

// Classes follow Unicode 16.0, as the tokenizers library's Oniguruma does:
// U+10D40 GARAY DIGIT ZERO (new in 16.0) is a digit of its own under \p{N},
// U+11BC0 SUNUWAR LETTER DEVI (16.0) continues a word under \p{L}.
TEST(TokenizerSplitPattern, UnicodeSixteenClasses) {
  EXPECT_EQ(split(kQwen2Pattern, "a\xF0\x90\xB5\x80\xF0\x90\xB5\x81"),
            (Pieces{"a", "\xF0\x90\xB5\x80", "\xF0\x90\xB5\x81"}));
  EXPECT_EQ(split(kLlama3Pattern, "!\xF0\x91\xAF\x80\xF0\x91\xAF\x81"), (Pieces{"!\xF0\x91\xAF\x80\xF0\x91\xAF\x81"}));
  EXPECT_EQ(split(R"(\P{L}+)", "ab12\xF0\x91\xAF\x80!"), (Pieces{"12", "!"}));
  EXPECT_EQ(split(R"([\p{^N}]+)", "ab12c"), (Pieces{"ab", "c"}));
}

TEST(TokenizerSplitPattern, UnsupportedRegexesAreNamed) {
  auto message_for = [](std::string_view pattern) { return invalid_input_message([&] { TokenizerRegex{pattern}; }); };
  std::string message = message_for(R"(\p{Greek}+)");
  EXPECT_NE(message.find("\\p{Greek}"), std::string::npos) << message;
  message = message_for(R"([a-z&&[^aeiou]])");
  EXPECT_NE(message.find("intersection"), std::string::npos) << message;
  message = message_for(R"(\w+)");
  EXPECT_NE(message.find("\\w is not supported"), std::string::npos) << message;
  message = message_for(R"((unclosed)");
  EXPECT_NE(message.find("(unclosed"), std::string::npos) << message;
}

// Oniguruma's Ruby syntax: \h is a hex digit, \uHHHH a code point, ^ and $
// line anchors.
TEST(TokenizerSplitPattern, OnigurumaSyntax) {
  EXPECT_EQ(split(R"(\h+)", "x1fG z"), (Pieces{"1f"}));
  EXPECT_EQ(split(R"(\u00e9+)", "caf\xC3\xA9\xC3\xA9"), (Pieces{"\xC3\xA9\xC3\xA9"}));
  EXPECT_EQ(split(R"(^ +| +$)", "  a \n b  "), (Pieces{"  ", " ", " ", "  "}));
  EXPECT_EQ(onig_to_pcre2(R"(a(?i:'s)[x\]])"), R"(a(?i:'s)[x\]])");
}

// (?i) folds letters and [...] classes but not a property class on its own,
// as the tokenizers library's Oniguruma does (these pieces are what the npm
// `tokenizers` 0.23.2 gives).
TEST(TokenizerSplitPattern, CaseInsensitiveScopes) {
  EXPECT_EQ(split(R"((?i)\p{Lu}+)", "abCD ef"), (Pieces{"CD"}));
  EXPECT_EQ(split(R"((?i)[A-Z]+)", "abCD ef"), (Pieces{"abCD", "ef"}));
  EXPECT_EQ(split(R"((?i:'s))", "x'\xC5\xBF 'S"), (Pieces{"'\xC5\xBF", "'S"}));  // U+017F long s folds to s
  EXPECT_EQ(split(R"((?i:k)+)", "K\xE2\x84\xAAk"), (Pieces{"K\xE2\x84\xAAk"}));  // U+212A Kelvin sign
  // The option ends with its group; an unscoped (?i) lasts to the end of the group.
  EXPECT_EQ(split(R"((?i:a)b)", "AB Ab aB"), (Pieces{"Ab"}));
  EXPECT_EQ(split(R"((x(?i)a)b)", "xAb xAB"), (Pieces{"xAb"}));
  EXPECT_EQ(split(R"((?i)[\p{Lu}x]+)", "abXCD"), (Pieces{"abXCD"}));
}

TEST(TokenizerSplitPattern, InvalidUtf8NeverMatches) {
  EXPECT_EQ(split(R"([^a]+)", "b\xFF" "c"), (Pieces{"b", "c"}));
}

using unicode::normalize;
using unicode::NormalForm;

TEST(TokenizerNormalForms, ComposeAndDecompose) {
  EXPECT_EQ(normalize("e\xCC\x81", NormalForm::kNfc), "\xC3\xA9");                  // e + U+0301 -> U+00E9
  EXPECT_EQ(normalize("\xC3\xA9", NormalForm::kNfd), "e\xCC\x81");
  EXPECT_EQ(normalize("\xEF\xAC\x81", NormalForm::kNfkc), "fi");                       // U+FB01 ligature
  EXPECT_EQ(normalize("\xE2\x91\xA0", NormalForm::kNfkd), "1");                        // U+2460 circled one
  EXPECT_EQ(normalize("\xE1\x84\x92\xE1\x85\xA1\xE1\x86\xAB", NormalForm::kNfc),  // jamo -> U+D55C
            "\xED\x95\x9C");
  EXPECT_EQ(normalize("a\xFF\xCC\x81", NormalForm::kNfc), "a\xFF\xCC\x81");             // invalid byte kept
}

// The tokenizers library normalizes with Unicode 9.0 data; so do we.
TEST(TokenizerNormalForms, FollowUnicodeNine) {
  // U+1E944 (9.0, ccc 230) goes after U+0316 (ccc 220) ...
  EXPECT_EQ(normalize("x\xF0\x9E\xA5\x84\xCC\x96", NormalForm::kNfc), "x\xCC\x96\xF0\x9E\xA5\x84");
  // ... but U+0D3B (10.0, ccc 9) stays after U+0301 (ccc 230) ...
  EXPECT_EQ(normalize("x\xCC\x81\xE0\xB4\xBB", NormalForm::kNfc), "x\xCC\x81\xE0\xB4\xBB");
  // ... and U+11935 U+11930 (a 13.0 composition) stays apart.
  EXPECT_EQ(normalize("\xF0\x91\xA4\xB5\xF0\x91\xA4\xB0", NormalForm::kNfc), "\xF0\x91\xA4\xB5\xF0\x91\xA4\xB0");
}

}  // namespace
}  // namespace lorafarm::engine
