// The engine's subcommands end to end through the real binary: reference
// numbers from the bundled model's README, and one clear line for bad input.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test_support.h"

namespace lorafarm {
namespace {

using testing::run_lorafarm;

nlohmann::json eval_json(const std::string& data) {
  const auto r = run_lorafarm({"eval", "--model", testing::bundled_model().string(), "--data",
                               testing::bundled_data(data).string(), "--split", "valid", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return nlohmann::json::parse(r.out);
}

// stories260K README, "Perplexity (reference numbers)": each sample as BOS + ids, text tokens scored.
TEST(CliEval, FortunesLossMatchesModelReadme) {
  const auto j = eval_json("fortunes");
  EXPECT_NEAR(j["loss"].get<double>(), 4.2511, 4.2511 * 1e-3);
  EXPECT_EQ(j["tokens"].get<int>(), 36190);
  EXPECT_EQ(j["samples"].get<int>(), 441);
}

TEST(CliEval, TinyStoriesLossMatchesModelReadme) {
  const auto j = eval_json("tinystories");
  EXPECT_NEAR(j["loss"].get<double>(), 1.4333, 1.4333 * 1e-3);
  EXPECT_EQ(j["tokens"].get<int>(), 155153);
}

// A quantized model folder evaluates directly (dequantized on load); 8-bit
// affine barely moves the loss.
TEST(CliEval, QuantizedFolderEvaluates) {
  testing::ScratchDir dir;
  const auto q = run_lorafarm({"quantize", "--model", testing::bundled_model().string(), "--bits", "8",
                               "--group-size", "64", "-o", (dir / "q8").string()});
  ASSERT_EQ(q.exit_code, 0) << q.err;
  const auto r = run_lorafarm({"eval", "--model", (dir / "q8").string(), "--data",
                               testing::bundled_data("fortunes").string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_NEAR(j["loss"].get<double>(), 4.2511, 4.2511 * 5e-3);
  EXPECT_NE(j["loss"].get<double>(), eval_json("fortunes")["loss"].get<double>());  // it really is quantized
}

TEST(CliGenerate, GreedyContinuationMatchesModelReadme) {
  const auto r = run_lorafarm({"generate", "--model", testing::bundled_model().string(), "--prompt",
                               "Once upon a time", "--max-tokens", "60"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind(
                "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. "
                "One day, she saw a big, red ball. She wanted to play with it, but it was too high.",
                0),
            0u)
      << r.out;
}

TEST(CliGenerate, SamplingIsSeeded) {
  auto run = [](const std::string& seed) {
    return run_lorafarm({"generate", "--model", testing::bundled_model().string(), "--prompt", "Once upon a time",
                         "--max-tokens", "30", "--temp", "1.0", "--top-p", "0.9", "--seed", seed})
        .out;
  };
  EXPECT_EQ(run("7"), run("7"));
  EXPECT_NE(run("7"), run("8"));
}

// One line on stderr naming the problem, and exit code 1.
void expect_one_line_error(const testing::ProcessResult& r, const std::string& needle) {
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

std::filesystem::path copy_model(const testing::ScratchDir& dir) {
  const auto folder = dir / "model";
  std::filesystem::copy(testing::bundled_model(), folder, std::filesystem::copy_options::recursive);
  return folder;
}

TEST(CliErrors, TruncatedSafetensors) {
  testing::ScratchDir dir;
  const auto folder = copy_model(dir);
  const std::string bytes = testing::read_file(folder / "model.safetensors");
  testing::write_file(folder / "model.safetensors", bytes.substr(0, bytes.size() - 1000));
  expect_one_line_error(run_lorafarm({"eval", "--model", folder.string(), "--data",
                                      testing::bundled_data("fortunes").string()}),
                        "past the end");
}

TEST(CliErrors, ConfigWithUnsupportedField) {
  testing::ScratchDir dir;
  const auto folder = copy_model(dir);
  auto config = nlohmann::json::parse(testing::read_file(folder / "config.json"));
  config["model_type"] = "bloom";
  testing::write_file(folder / "config.json", config.dump());
  expect_one_line_error(run_lorafarm({"info", folder.string()}),
                        "'model_type' is 'bloom'; supported: llama, mistral, qwen2, phi3, qwen3, smollm3, gemma2, "
                        "gemma3_text");
}

TEST(CliErrors, MalformedJsonlLineIsNamed) {
  testing::ScratchDir dir;
  std::filesystem::create_directories(dir / "data");
  testing::write_file(dir / "data/valid.jsonl", "{\"text\": \"A fine line.\"}\n{\"text\": \"broken\n");
  expect_one_line_error(run_lorafarm({"eval", "--model", testing::bundled_model().string(), "--data",
                                      (dir / "data").string()}),
                        "valid.jsonl:2: malformed JSON");
  testing::write_file(dir / "data/valid.jsonl", "{\"text\": \"A fine line.\"}\n\n{\"text\": \"after a gap\"}\n");
  expect_one_line_error(run_lorafarm({"eval", "--model", testing::bundled_model().string(), "--data",
                                      (dir / "data").string()}),
                        "valid.jsonl:2: empty line");
  testing::write_file(dir / "data/valid.jsonl", "{\"prompt\": \"no text field\"}\n");
  expect_one_line_error(run_lorafarm({"eval", "--model", testing::bundled_model().string(), "--data",
                                      (dir / "data").string()}),
                        "valid.jsonl:1: expected a string field 'text'");
}

TEST(CliErrors, PromptLongerThanContext) {
  std::string prompt;
  for (int i = 0; i < 600; ++i) prompt += "word ";
  expect_one_line_error(run_lorafarm({"generate", "--model", testing::bundled_model().string(), "--prompt", prompt}),
                        "the model's context is 512");
}

TEST(CliInfo, ReportsArchitectureAndParameters) {
  const auto r = run_lorafarm({"info", testing::bundled_model().string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["parameters"].get<int>(), 260032);
  EXPECT_EQ(j["bytes_by_dtype"]["F32"].get<int>(), 260032 * 4);
  EXPECT_EQ(j["num_kv_heads"].get<int>(), 4);
}

// Each newer family's architecture line and what sets it apart.
TEST(CliInfo, PrintsEachFamilysArchitecture) {
  const auto fixtures = testing::source_dir() / "tests/engine/config_semantics";
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"qwen3_f32", "per-head q/k RMSNorm"},
      {"smollm3_bf16", "none on 1 of 3 layers"},
      {"gemma3_text_f16", "theta 100 on sliding layers"},
      {"gemma2_f32", "attention soft-cap 5"}};
  for (const auto& [name, feature] : expected) {
    const auto r = run_lorafarm({"info", (fixtures / name).string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::string type = name.substr(0, name.rfind('_'));
    EXPECT_NE(r.out.find("architecture   " + type + ": 3 layers"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(feature), std::string::npos) << r.out;
  }
  const auto j = nlohmann::json::parse(run_lorafarm({"info", (fixtures / "gemma2_f32").string(), "--json"}).out);
  EXPECT_EQ(j["model_type"], "gemma2");
  EXPECT_EQ(j["bytes_by_dtype"]["F32"].get<int64_t>(), j["parameters"].get<int64_t>() * 4);  // the count covers every tensor
}

}  // namespace
}  // namespace lorafarm
