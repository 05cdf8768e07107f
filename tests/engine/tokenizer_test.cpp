// Tokenizers: sentencepiece against the bundled tokenizer.model, the
// sentencepiece-style tokenizer.json against sentencepiece on every bundled
// sample, and byte-level BPE against encodings worked out by hand on a small
// tokenizer.json written here.
#include "engine/tokenizer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "engine/unicode.h"
#include "test_support.h"

namespace lorafarm::engine {
namespace {

using lorafarm::testing::bundled_data;
using lorafarm::testing::bundled_model;
using lorafarm::testing::ScratchDir;
using lorafarm::testing::write_file;
using nlohmann::json;
using Ids = std::vector<TokenId>;

std::filesystem::path stories260k() { return bundled_model("stories260K"); }
std::filesystem::path tinystories656k() { return bundled_model("TinyStories-656K"); }

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

std::vector<std::string> all_bundled_texts() {
  std::vector<std::string> texts;
  for (const std::string set : {"tinystories", "fortunes"}) {
    for (const std::string split : {"train", "valid", "test"}) {
      std::ifstream in(bundled_data(set) / (split + ".jsonl"));
      for (std::string line; std::getline(in, line);) {
        if (!line.empty()) texts.push_back(json::parse(line).at("text").get<std::string>());
      }
    }
  }
  return texts;
}

// ---------------------------------------------------------------- sentencepiece

TEST(TokenizerSentencePiece, EncodesTheReadmeExample) {
  const auto tokenizer = load_sentencepiece_tokenizer(stories260k() / "tokenizer.model");
  EXPECT_EQ(tokenizer->encode("Once upon a time"), (Ids{403, 407, 261, 378}));
  EXPECT_EQ(tokenizer->vocab_size(), 512);
  EXPECT_EQ(tokenizer->piece(403), "▁Once");
  EXPECT_EQ(tokenizer->bos_id(), 1);
  EXPECT_EQ(tokenizer->eos_id(), 2);
  EXPECT_TRUE(tokenizer->add_bos());
  EXPECT_EQ(tokenizer->token_id("<s>"), 1);
  EXPECT_EQ(tokenizer->token_id("no such piece"), std::nullopt);
}

TEST(TokenizerSentencePiece, DecodesByteFallbackAndSkipsControlTokens) {
  const auto tokenizer = load_sentencepiece_tokenizer(stories260k() / "tokenizer.model");
  const std::string text = "Lily said,\n\"Hi!\"\tBye.";
  Ids ids = tokenizer->encode(text);
  // "\n" is not a piece: it is the byte-fallback token <0x0A> (id 3 + 0x0A).
  EXPECT_NE(std::find(ids.begin(), ids.end(), 13), ids.end());
  EXPECT_EQ(tokenizer->piece(13), "<0x0A>");
  ids.insert(ids.begin(), 1);  // BOS decodes to nothing
  EXPECT_EQ(tokenizer->decode(ids), text);
  EXPECT_NE(invalid_input_message([&] { tokenizer->decode(Ids{512}); }).find("512"), std::string::npos);
}

TEST(TokenizerSentencePiece, MissingOrCorruptModelNamesTheFile) {
  ScratchDir dir;
  const auto missing = dir / "tokenizer.model";
  EXPECT_NE(invalid_input_message([&] { load_sentencepiece_tokenizer(missing); }).find(missing.string()),
            std::string::npos);
  write_file(missing, "this is not a protobuf");
  EXPECT_NE(invalid_input_message([&] { load_sentencepiece_tokenizer(missing); }).find(missing.string()),
            std::string::npos);
}

// ------------------------------------------- tokenizer.json, sentencepiece style

TEST(TokenizerHfSentencePieceStyle, EncodesTheReadmeExample) {
  const auto tokenizer = load_hf_tokenizer(stories260k() / "tokenizer.json");
  EXPECT_EQ(tokenizer->encode("Once upon a time"), (Ids{403, 407, 261, 378}));
  EXPECT_EQ(tokenizer->vocab_size(), 512);
  EXPECT_EQ(tokenizer->piece(378), "▁time");
  // The post-processor template puts <s> (1) first.
  EXPECT_EQ(tokenizer->bos_id(), 1);
  EXPECT_TRUE(tokenizer->add_bos());
}

// The stories260K tokenizer.json is a conversion of its tokenizer.model; both
// must agree on every bundled sample, in both directions.
TEST(TokenizerHfSentencePieceStyle, MatchesSentencePieceOnEveryBundledSample) {
  const auto reference = load_sentencepiece_tokenizer(stories260k() / "tokenizer.model");
  const auto tokenizer = load_hf_tokenizer(stories260k() / "tokenizer.json");
  const std::vector<std::string> texts = all_bundled_texts();
  ASSERT_GT(texts.size(), 10000u);
  std::size_t tokens = 0;
  const auto start = std::chrono::steady_clock::now();
  for (const std::string& text : texts) {
    const Ids expected = reference->encode(text);
    const Ids ids = tokenizer->encode(text);
    ASSERT_EQ(ids, expected) << "text: " << text;
    // Decoding gives the text back, or else what sentencepiece gives back
    // (which differs from the text where spaces were collapsed).
    const std::string decoded = tokenizer->decode(ids);
    if (decoded != text) ASSERT_EQ(decoded, reference->decode(expected)) << "text: " << text;
    tokens += ids.size();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "[ info ] " << texts.size() << " texts, " << tokens << " tokens, both tokenizers in " << seconds
            << " s (wall)\n";
}

TEST(TokenizerHfSentencePieceStyle, MatchesSentencePieceOnWhitespaceAndUnicodeEdgeCases) {
  const auto reference = load_sentencepiece_tokenizer(stories260k() / "tokenizer.model");
  const auto tokenizer = load_hf_tokenizer(stories260k() / "tokenizer.json");
  for (const std::string text :
       {"", " ", "   ", "  leading", "trailing  ", "double  space   triple", "tab\there", "\n", "a\n\nb",
        "caf\xC3\xA9 na\xC3\xAFve \xF0\x9F\x98\x80 \xE4\xBD\xA0\xE5\xA5\xBD", "x  \t  y", "<S> <s"}) {
    EXPECT_EQ(tokenizer->encode(text), reference->encode(text)) << "text: [" << text << "]";
  }
  // One difference by design: tokenizer.json's added tokens are cut out of
  // the text (the library's rule), sentencepiece spells "<s>" with pieces.
  EXPECT_EQ(tokenizer->encode("<s> is text").front(), 1);
  EXPECT_NE(reference->encode("<s> is text").front(), 1);
}

// `^ +| +$` in the normalizer: the tokenizers library's regex engine
// (Oniguruma) treats ^ and $ as line anchors, so spaces next to a newline are
// removed too; sentencepiece's remove_extra_whitespaces only trims the ends
// of the whole text. The bundled data has no such spaces (the test above).
TEST(TokenizerHfSentencePieceStyle, SpacesNextToNewlinesFollowOnigurumaLineAnchors) {
  const auto tokenizer = load_hf_tokenizer(stories260k() / "tokenizer.json");
  EXPECT_EQ(tokenizer->encode("Hi \n there"), tokenizer->encode("Hi\nthere"));
  EXPECT_NE(tokenizer->encode("Hi  there"), tokenizer->encode("Hithere"));
}

TEST(TokenizerHfSentencePieceStyle, TinyStories656kQuirks) {
  const auto tokenizer = load_hf_tokenizer(tinystories656k() / "tokenizer.json");
  EXPECT_EQ(tokenizer->vocab_size(), 2048);
  // "▁Once▁upon▁a▁time" -> "▁" "On" "ce▁" "upon▁a▁tim" ... (see its README).
  const Ids ids = tokenizer->encode("Once upon a time");
  ASSERT_GE(ids.size(), 5u);
  EXPECT_EQ((Ids{ids.begin(), ids.begin() + 4}), (Ids{80, 147, 201, 282}));
  EXPECT_EQ(tokenizer->decode(ids), "Once upon a time");
  // No <0xNN> tokens in the vocabulary: a curly quote is <unk> (0), and a run
  // of unknown characters is one fused <unk>.
  EXPECT_EQ(tokenizer->encode("\xE2\x80\x9C"), (Ids{80, 0}));
  EXPECT_EQ(tokenizer->encode("\xE2\x80\x9C\xE2\x82\xAC\xE2\x80\x9D"), (Ids{80, 0}));
  const Ids quoted = tokenizer->encode("\xE2\x80\x9CHi\xE2\x80\x9D");
  EXPECT_EQ(quoted.front(), 80);
  EXPECT_EQ(quoted[1], 0);
  EXPECT_EQ(quoted.back(), 0);
  // <unk> is special: decoding skips it.
  EXPECT_EQ(tokenizer->decode(Ids{0, 147}), "On");
  // The special tokens are "normalized" added tokens: they are looked for in
  // the normalized text in their normalized form "▁<|end_story|>", so they
  // are found after a space and nowhere else.
  const Ids with_space = tokenizer->encode("The end. <|end_story|>");
  EXPECT_EQ(with_space.back(), 2);
  EXPECT_EQ(std::count(with_space.begin(), with_space.end(), 2), 1);
  const Ids glued = tokenizer->encode("The end.<|end_story|>");
  EXPECT_EQ(std::count(glued.begin(), glued.end(), 2), 0);
  EXPECT_EQ(glued.back(), 210);  // "|>"
}

// Newer Llama-2 conversions spell the same thing with a Metaspace
// pre-tokenizer and decoder instead of the normalizer. On texts without
// leading, trailing or repeated spaces (which sentencepiece would collapse)
// the ids and the text must again be sentencepiece's, with or without
// splitting at "▁" (no stories260K piece has "▁" inside or at its end).
TEST(TokenizerHfSentencePieceStyle, MetaspaceVariantMatchesSentencePiece) {
  const auto reference = load_sentencepiece_tokenizer(stories260k() / "tokenizer.model");
  std::ifstream in(stories260k() / "tokenizer.json");
  json spec = json::parse(in);
  spec["normalizer"] = nullptr;
  spec["decoder"] = {{"type", "Sequence"},
                     {"decoders", json::array({{{"type", "ByteFallback"}},
                                               {{"type", "Metaspace"},
                                                {"replacement", "▁"},
                                                {"prepend_scheme", "always"},
                                                {"split", true}}})}};
  std::vector<std::string> texts;
  for (const std::string set : {"tinystories", "fortunes"}) {
    std::ifstream lines(bundled_data(set) / "valid.jsonl");
    for (std::string line; std::getline(lines, line);) texts.push_back(json::parse(line).at("text").get<std::string>());
  }
  ScratchDir dir;
  for (const bool split : {false, true}) {
    spec["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "▁"}, {"prepend_scheme", "first"}, {"split", split}};
    const auto path = dir / "tokenizer.json";
    write_file(path, spec.dump());
    const auto tokenizer = load_hf_tokenizer(path);
    for (const std::string& text : texts) {
      const Ids ids = tokenizer->encode(text);
      ASSERT_EQ(ids, reference->encode(text)) << "split " << split << ", text: " << text;
      ASSERT_EQ(tokenizer->decode(ids), text) << "split " << split;
    }
  }
}

// ------------------------------------------------------- byte-level BPE (GPT-2)

// A tokenizer.json with the 256 byte characters as ids 0..255 (byte b has id
// b), eight merges and one special token, small enough to encode by hand.
json byte_level_spec(const json& pre_tokenizer, bool merges_as_pairs) {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[unicode::to_utf8(unicode::byte_to_char(static_cast<uint8_t>(b)))] = b;
  // Ġ is the byte-level stand-in for a space.
  const std::vector<std::pair<std::string, std::string>> merges = {
      {"Ġ", "t"},     // rank 0 -> 256 "Ġt"
      {"h", "e"},     // rank 1 -> 257 "he"
      {"Ġt", "he"},   // rank 2 -> 258 "Ġthe"
      {"l", "o"},     // rank 3 -> 259 "lo"
      {"lo", "w"},    // rank 4 -> 260 "low"
      {"e", "r"},     // rank 5 -> 261 "er"
      {"Ġ", "low"},   // rank 6 -> 262 "Ġlow"
      {"Ġlow", "er"}  // rank 7 -> 263 "Ġlower"
  };
  json merge_list = json::array();
  TokenId next = 256;
  for (const auto& [a, b] : merges) {
    vocab[a + b] = next++;
    merge_list.push_back(merges_as_pairs ? json::array({a, b}) : json(a + " " + b));
  }
  json spec;
  spec["version"] = "1.0";
  spec["added_tokens"] = json::array({{{"id", 264},
                                       {"content", "<|endoftext|>"},
                                       {"single_word", false},
                                       {"lstrip", false},
                                       {"rstrip", false},
                                       {"normalized", false},
                                       {"special", true}}});
  spec["normalizer"] = nullptr;
  spec["pre_tokenizer"] = pre_tokenizer;
  spec["post_processor"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}};
  spec["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}};
  spec["model"] = {{"type", "BPE"},       {"dropout", nullptr},       {"unk_token", nullptr},
                   {"fuse_unk", false},   {"byte_fallback", false},   {"vocab", vocab},
                   {"merges", merge_list}};
  return spec;
}

json gpt2_pre_tokenizer() {
  return {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
}

json llama3_pre_tokenizer() {
  return {{"type", "Sequence"},
          {"pretokenizers",
           json::array({{{"type", "Split"},
                         {"pattern",
                          {{"Regex",
                            R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}}},
                         {"behavior", "Isolated"},
                         {"invert", false}},
                        {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}})}};
}

std::filesystem::path write_spec(const ScratchDir& dir, const json& spec, const std::string& name = "tokenizer.json") {
  const auto path = dir / name;
  write_file(path, spec.dump(1));
  return path;
}

TEST(TokenizerHfByteLevel, EncodesHandComputedExamples) {
  ScratchDir dir;
  for (const bool pairs : {false, true}) {  // both merge formats
    const auto tokenizer = load_hf_tokenizer(write_spec(dir, byte_level_spec(gpt2_pre_tokenizer(), pairs)));
    EXPECT_EQ(tokenizer->vocab_size(), 265);
    // "the": t h e; only (h,e) is a merge -> "t" "he" = [116, 257].
    // " lower" -> Ġ l o w e r: (l,o) r3 -> lo; (lo,w) r4 -> low; (e,r) r5 ->
    // er; (Ġ,low) r6 -> Ġlow; (Ġlow,er) r7 -> Ġlower = 263.
    EXPECT_EQ(tokenizer->encode("the lower"), (Ids{116, 257, 263}));
    // " the" -> Ġ t h e: (Ġ,t) r0 -> Ġt; (h,e) r1 -> he; (Ġt,he) r2 -> Ġthe.
    EXPECT_EQ(tokenizer->encode(" the"), (Ids{258}));
    // The special token is cut out before BPE and keeps its id.
    EXPECT_EQ(tokenizer->encode("<|endoftext|>the"), (Ids{264, 116, 257}));
    // "é" is the bytes C3 A9, written Ã (U+00C3, id 195) © (U+00A9, id 169).
    EXPECT_EQ(tokenizer->encode("\xC3\xA9"), (Ids{195, 169}));
    // "Hello  world": the GPT-2 split gives "Hello" " " " world"; in "Hello"
    // only (l,o) merges (H is not h) -> H e l lo; the lone space is Ġ (32).
    EXPECT_EQ(tokenizer->encode("Hello  world"), (Ids{72, 101, 108, 259, 32, 32, 119, 111, 114, 108, 100}));
    // "\n" is byte 10, written Ċ (U+010A), id 10.
    EXPECT_EQ(tokenizer->encode("\n"), (Ids{10}));
  }
}

TEST(TokenizerHfByteLevel, DecodesBytesBackAndSkipsSpecialTokens) {
  ScratchDir dir;
  const auto tokenizer = load_hf_tokenizer(write_spec(dir, byte_level_spec(gpt2_pre_tokenizer(), false)));
  const std::string text = "the lower, caf\xC3\xA9 \xF0\x9F\x98\x80!\n\tx";
  EXPECT_EQ(tokenizer->decode(tokenizer->encode(text)), text);
  EXPECT_EQ(tokenizer->decode(Ids{264, 258, 264}), " the");
  EXPECT_EQ(tokenizer->piece(258), "Ġthe");
  EXPECT_EQ(tokenizer->piece(264), "<|endoftext|>");
  EXPECT_EQ(tokenizer->token_id("<|endoftext|>"), 264);
  // Half of "é" cannot be shown: it decodes to U+FFFD.
  EXPECT_EQ(tokenizer->decode(Ids{195}), "\xEF\xBF\xBD");
  // No BOS in the template: nothing is added by default.
  EXPECT_FALSE(tokenizer->add_bos());
  EXPECT_NE(invalid_input_message([&] { tokenizer->decode(Ids{265}); }).find("265"), std::string::npos);
}

TEST(TokenizerHfByteLevel, AddPrefixSpaceStartsTheTextWithASpace) {
  ScratchDir dir;
  json pre = gpt2_pre_tokenizer();
  pre["add_prefix_space"] = true;
  const auto tokenizer = load_hf_tokenizer(write_spec(dir, byte_level_spec(pre, false)));
  // "the" becomes " the" -> Ġthe (258); so does the text after a special token.
  EXPECT_EQ(tokenizer->encode("the"), (Ids{258}));
  EXPECT_EQ(tokenizer->encode("<|endoftext|>the"), (Ids{264, 258}));
}

TEST(TokenizerHfByteLevel, Llama3SplitThenByteLevel) {
  ScratchDir dir;
  const auto tokenizer = load_hf_tokenizer(write_spec(dir, byte_level_spec(llama3_pre_tokenizer(), true)));
  EXPECT_EQ(tokenizer->encode("the lower"), (Ids{116, 257, 263}));
  // Digits go in groups of three: "12345" -> "123" "45" (no merges: bytes).
  EXPECT_EQ(tokenizer->encode("12345"), (Ids{49, 50, 51, 52, 53}));
  const std::string text = "I'M here:\r\n  12345 <|endoftext|> done";
  EXPECT_EQ(tokenizer->decode(tokenizer->encode(text)), "I'M here:\r\n  12345  done");
}

// Split on the string "l" with each behaviour, seen through the ids: with
// the extra merge (o,l) -> "ol" (265), a piece "lo" is 259, "ol" is 265 and
// lone letters are l=108, o=111.
TEST(TokenizerHfByteLevel, SplitBehaviours) {
  ScratchDir dir;
  auto ids_for = [&](const std::string& behavior, const std::string& text) {
    json spec = byte_level_spec(
        {{"type", "Sequence"},
         {"pretokenizers", json::array({{{"type", "Split"}, {"pattern", {{"String", "l"}}}, {"behavior", behavior}},
                                        {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}})}},
        false);
    spec["model"]["vocab"]["ol"] = 265;
    spec["model"]["merges"].push_back("o l");
    return load_hf_tokenizer(write_spec(dir, spec))->encode(text);
  };
  EXPECT_EQ(ids_for("Isolated", "lolo"), (Ids{108, 111, 108, 111}));
  EXPECT_EQ(ids_for("Removed", "lolo"), (Ids{111, 111}));
  EXPECT_EQ(ids_for("MergedWithNext", "lolo"), (Ids{259, 259}));      // "lo" "lo"
  EXPECT_EQ(ids_for("MergedWithPrevious", "olol"), (Ids{265, 265}));  // "ol" "ol"
  EXPECT_EQ(ids_for("MergedWithPrevious", "lolo"), (Ids{108, 265, 111}));  // "l" "ol" "o"
  const std::string message = invalid_input_message([&] { ids_for("Sideways", "lolo"); });
  EXPECT_NE(message.find("Sideways"), std::string::npos) << message;
}

// ------------------------------------------------------------------- errors

TEST(TokenizerHfErrors, UnsupportedPartsAreNamed) {
  ScratchDir dir;
  auto message_for = [&](const json& spec) {
    const auto path = write_spec(dir, spec);
    return invalid_input_message([&] { load_hf_tokenizer(path); });
  };
  json spec = byte_level_spec(gpt2_pre_tokenizer(), false);

  json wordpiece = spec;
  wordpiece["model"]["type"] = "WordPiece";
  std::string message = message_for(wordpiece);
  EXPECT_NE(message.find("model.type"), std::string::npos) << message;
  EXPECT_NE(message.find("WordPiece"), std::string::npos) << message;

  json unigram = spec;
  unigram["model"] = {{"type", "Unigram"}, {"vocab", json::array()}};
  EXPECT_NE(message_for(unigram).find("Unigram"), std::string::npos);

  json lowercase = spec;
  lowercase["normalizer"] = {{"type", "Sequence"}, {"normalizers", json::array({{{"type", "Lowercase"}}})}};
  message = message_for(lowercase);
  EXPECT_NE(message.find("normalizer.normalizers[0].type"), std::string::npos) << message;
  EXPECT_NE(message.find("Lowercase"), std::string::npos) << message;

  json whitespace = spec;
  whitespace["pre_tokenizer"] = {{"type", "Whitespace"}};
  message = message_for(whitespace);
  EXPECT_NE(message.find("pre_tokenizer.type"), std::string::npos) << message;
  EXPECT_NE(message.find("Whitespace"), std::string::npos) << message;

  json regex = spec;
  regex["pre_tokenizer"] = {
      {"type", "Split"}, {"pattern", {{"Regex", R"(\p{Greek}+|\s+)"}}}, {"behavior", "Isolated"}, {"invert", false}};
  message = message_for(regex);
  EXPECT_NE(message.find("pre_tokenizer.pattern.Regex"), std::string::npos) << message;
  EXPECT_NE(message.find(R"(\p{Greek}+|\s+)"), std::string::npos) << message;

  json decoder = spec;
  decoder["decoder"] = {{"type", "WordPiece"}};
  EXPECT_NE(message_for(decoder).find("decoder.type"), std::string::npos);

  json bad_merge = spec;
  bad_merge["model"]["merges"].push_back("x yz");
  message = message_for(bad_merge);
  EXPECT_NE(message.find("model.merges[8]"), std::string::npos) << message;
  EXPECT_NE(message.find("yz"), std::string::npos) << message;
}

TEST(TokenizerHfErrors, MissingAndMalformedFilesNameThePath) {
  ScratchDir dir;
  const auto missing = dir / "tokenizer.json";
  std::string message = invalid_input_message([&] { load_hf_tokenizer(missing); });
  EXPECT_NE(message.find(missing.string()), std::string::npos) << message;
  write_file(missing, "{\"model\": {");
  message = invalid_input_message([&] { load_hf_tokenizer(missing); });
  EXPECT_NE(message.find(missing.string()), std::string::npos) << message;
  EXPECT_NE(message.find("malformed JSON"), std::string::npos) << message;
  message = invalid_input_message([&] { load_tokenizer(dir.path()); });
  EXPECT_NE(message.find(missing.string()), std::string::npos) << message;
}

// ------------------------------------------------------------ load_tokenizer

TEST(TokenizerLoad, Stories260kUsesSentencePiece) {
  const auto tokenizer = load_tokenizer(stories260k());
  EXPECT_EQ(tokenizer->bos_id(), 1);
  EXPECT_EQ(tokenizer->eos_id(), 2);
  EXPECT_TRUE(tokenizer->add_bos());
  EXPECT_EQ(tokenizer->encode("Once upon a time"), (Ids{403, 407, 261, 378}));
  // Only sentencepiece writes <unk> as text (this model's unk_surface, the
  // characters " \342\201\207 "); tokenizer.json skips it as special.
  EXPECT_EQ(tokenizer->decode(Ids{0}), " \\342\\201\\207 ");
}

TEST(TokenizerLoad, TinyStories656kUsesTokenizerJson) {
  const auto tokenizer = load_tokenizer(tinystories656k());
  EXPECT_EQ(tokenizer->bos_id(), 1);
  EXPECT_EQ(tokenizer->eos_id(), 2);
  EXPECT_TRUE(tokenizer->add_bos());
  EXPECT_EQ(tokenizer->piece(1), "<|start_story|>");
  EXPECT_EQ(tokenizer->encode("Once upon a time").front(), 80);
}

TEST(TokenizerLoad, ResolvesSpecialTokensFromTheFolderFiles) {
  ScratchDir dir;
  write_spec(dir, byte_level_spec(gpt2_pre_tokenizer(), false));
  // Only config.json: ids taken from it, eos from a list takes the first;
  // the template adds no BOS and no class says otherwise.
  write_file(dir / "config.json", R"({"bos_token_id": 264, "eos_token_id": [258, 264]})");
  auto tokenizer = load_tokenizer(dir.path());
  EXPECT_EQ(tokenizer->bos_id(), 264);
  EXPECT_EQ(tokenizer->eos_id(), 258);
  EXPECT_FALSE(tokenizer->add_bos());

  // generation_config.json comes before config.json.
  write_file(dir / "generation_config.json", R"({"eos_token_id": 257})");
  EXPECT_EQ(load_tokenizer(dir.path())->eos_id(), 257);

  // tokenizer_config.json names tokens (string or AddedToken object) and wins;
  // a Llama tokenizer class adds BOS by default.
  write_file(dir / "tokenizer_config.json",
             R"({"tokenizer_class": "LlamaTokenizerFast", "bos_token": {"content": "<|endoftext|>"},
                 "eos_token": "Ġthe"})");
  tokenizer = load_tokenizer(dir.path());
  EXPECT_EQ(tokenizer->bos_id(), 264);
  EXPECT_EQ(tokenizer->eos_id(), 258);
  EXPECT_TRUE(tokenizer->add_bos());

  // add_bos_token says it outright.
  write_file(dir / "tokenizer_config.json", R"({"tokenizer_class": "LlamaTokenizerFast", "add_bos_token": false})");
  EXPECT_FALSE(load_tokenizer(dir.path())->add_bos());

  // special_tokens_map.json is used when tokenizer_config.json is silent.
  write_file(dir / "special_tokens_map.json", R"({"eos_token": {"content": "<|endoftext|>"}})");
  EXPECT_EQ(load_tokenizer(dir.path())->eos_id(), 264);
}

TEST(TokenizerLoad, BadSpecialTokenEntriesAreNamed) {
  ScratchDir dir;
  write_spec(dir, byte_level_spec(gpt2_pre_tokenizer(), false));
  write_file(dir / "tokenizer_config.json", R"({"bos_token": "<s>"})");
  std::string message = invalid_input_message([&] { load_tokenizer(dir.path()); });
  EXPECT_NE(message.find("tokenizer_config.json"), std::string::npos) << message;
  EXPECT_NE(message.find("<s>"), std::string::npos) << message;

  write_file(dir / "tokenizer_config.json", R"({"add_bos_token": "yes"})");
  message = invalid_input_message([&] { load_tokenizer(dir.path()); });
  EXPECT_NE(message.find("add_bos_token"), std::string::npos) << message;

  write_file(dir / "tokenizer_config.json", "{}");
  write_file(dir / "config.json", R"({"eos_token_id": 99999})");
  message = invalid_input_message([&] { load_tokenizer(dir.path()); });
  EXPECT_NE(message.find("config.json"), std::string::npos) << message;
  EXPECT_NE(message.find("99999"), std::string::npos) << message;

  write_file(dir / "config.json", "{not json");
  message = invalid_input_message([&] { load_tokenizer(dir.path()); });
  EXPECT_NE(message.find((dir / "config.json").string()), std::string::npos) << message;
}

}  // namespace
}  // namespace lorafarm::engine
