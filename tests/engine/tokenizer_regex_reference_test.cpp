// TokenizerRegex (PCRE2 after the Oniguruma rewrite) against the tokenizers
// library's own regex engine: tests/oracles/split_reference.js runs each
// pattern of tokenizer_corpus/regex_patterns.json (the six real files' split
// patterns, and constructs whose meaning differs between engines: \s \d \h,
// (?i) scopes, anchors, possessive/atomic/lazy repeats, every general category)
// over every corpus line in a node child process; the pieces must be equal.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/tokenizer_regex.h"
#include "test_support.h"

namespace lorafarm::engine {
namespace {

using lorafarm::testing::find_node;
using lorafarm::testing::oracles_dir;

using lorafarm::testing::ProcessResult;
using lorafarm::testing::read_file;
using lorafarm::testing::run_process;
using lorafarm::testing::source_dir;
using nlohmann::json;
using Pieces = std::vector<std::string>;


std::string shown(const std::string& text) { return json(text).dump(-1, ' ', true, json::error_handler_t::replace); }

TEST(TokenizerRegexReference, MatchesOnigurumaOnTheCorpus) {
  const std::string node = find_node();
  ASSERT_FALSE(node.empty()) << "node is not on PATH" << lorafarm::testing::kOracleSetupHint;
  const std::filesystem::path oracles = source_dir() / "tests" / "oracles";
  ASSERT_TRUE(std::filesystem::exists(oracles / "node_modules" / "tokenizers" / "package.json"))
      << "the npm package `tokenizers` is missing under " << oracles.string() << lorafarm::testing::kOracleSetupHint;
  const std::filesystem::path folder = source_dir() / "tests" / "engine" / "tokenizer_corpus";
  const ProcessResult result = run_process({node, (oracles / "split_reference.js").string(),
                                            (folder / "regex_patterns.json").string(), (folder / "corpus.jsonl").string()});
  ASSERT_EQ(result.exit_code, 0) << "split_reference.js failed: " << result.err << lorafarm::testing::kOracleSetupHint;

  const auto patterns = json::parse(read_file(folder / "regex_patterns.json")).get<std::vector<std::string>>();
  std::vector<std::string> lines;
  std::istringstream corpus(read_file(folder / "corpus.jsonl"));
  for (std::string line; std::getline(corpus, line);) {
    if (!line.empty()) lines.push_back(json::parse(line).get<std::string>());
  }
  std::istringstream reference(result.out);
  std::size_t compared = 0, differ = 0;
  std::string differing_patterns;
  for (const std::string& pattern : patterns) {
    const std::size_t differ_before = differ;
    std::string line;
    ASSERT_TRUE(std::getline(reference, line)) << "no reference for " << pattern;
    const json ref = json::parse(line);
    ASSERT_FALSE(ref.contains("error")) << pattern << ": " << ref["error"];
    const TokenizerRegex regex(pattern);
    for (std::size_t i = 0; i < lines.size(); ++i) {
      Pieces ours;
      for (const ByteSpan& span : regex.find_all(lines[i])) ours.push_back(lines[i].substr(span.begin, span.end - span.begin));
      ++compared;
      if (ours != ref["pieces"][i].get<Pieces>() && ++differ <= 10) {
        ADD_FAILURE() << "pattern " << pattern << ", line " << i + 1 << " " << shown(lines[i]) << ": ours "
                      << json(ours).dump(-1, ' ', true, json::error_handler_t::replace) << ", reference "
                      << ref["pieces"][i].dump(-1, ' ', true, json::error_handler_t::replace);
      }
    }
    if (differ > differ_before) differing_patterns += "\n  " + pattern + ": " + std::to_string(differ - differ_before);
  }
  std::cout << patterns.size() << " patterns x " << lines.size() << " lines: " << compared << " compared, " << differ
            << " differ\n";
  EXPECT_EQ(differ, 0u) << "lines that differ, by pattern:" << differing_patterns;
}

}  // namespace
}  // namespace lorafarm::engine
