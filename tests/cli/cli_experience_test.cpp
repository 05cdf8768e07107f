// The `lorafarm` command line as people and scripts meet it (docs/cli.md):
// every subcommand's --help has examples, a bad command line is exit 2, a
// missing file is exit 1 with one line naming it, --json output parses with
// the documented keys, and output to a pipe carries no "\r" or escape codes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <sstream>

#include "test_support.h"

namespace lorafarm::testing {
// Defined in tests/report/report_test.cpp (the same test binary): a store
// with one finished experiment "cmp".
void build_report_store(const std::filesystem::path& path);
}  // namespace lorafarm::testing

namespace lorafarm::cli {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using namespace lorafarm::testing;

std::string model() { return bundled_model().string(); }
std::string fortunes() { return bundled_data("fortunes").string(); }

std::ptrdiff_t lines(const std::string& text) { return std::count(text.begin(), text.end(), '\n'); }

// The subcommand names in the "Subcommands:" section of `lorafarm --help`.
std::vector<std::string> listed_subcommands(const std::string& help) {
  std::vector<std::string> names;
  std::istringstream in(help);
  std::string line;
  bool inside = false;
  while (std::getline(in, line)) {
    std::string lower = line;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    if (lower.rfind("subcommands:", 0) == 0) {
      inside = true;
      continue;
    }
    if (!inside) continue;
    if (line.empty() || line[0] != ' ') break;
    std::istringstream words(line);
    std::string name;
    words >> name;
    if (!name.empty()) names.push_back(name);
  }
  return names;
}

void expect_keys(const json& object, const std::vector<std::string>& keys) {
  ASSERT_TRUE(object.is_object()) << object.dump();
  for (const auto& key : keys) EXPECT_TRUE(object.contains(key)) << "no \"" << key << "\" in " << object.dump();
}

TEST(CliExperience, RootHelpListsExitCodesAndExamples) {
  const auto r = run_lorafarm({"--help"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Exit codes:"));
  EXPECT_THAT(r.out, HasSubstr("130"));
  EXPECT_THAT(r.out, HasSubstr("Examples"));
  EXPECT_THAT(r.out, HasSubstr("docs/cli.md"));
}

TEST(CliExperience, EverySubcommandHelpExitsZeroWithExamples) {
  const auto root = run_lorafarm({"--help"});
  ASSERT_EQ(root.exit_code, 0) << root.err;
  const auto names = listed_subcommands(root.out);
  // The list comes from the binary; these must be among it.
  for (const char* expected : {"info", "eval", "generate", "train", "fuse", "validate", "quantize", "sweep", "worker", "status",
                               "trials", "rerun", "report", "serve", "keygen"})
    EXPECT_NE(std::find(names.begin(), names.end(), expected), names.end()) << expected << " missing from:\n" << root.out;
  for (const auto& name : names) {
    const auto r = run_lorafarm({name, "--help"});
    EXPECT_EQ(r.exit_code, 0) << name << ": " << r.err;
    EXPECT_THAT(r.out, HasSubstr("Examples:")) << name;
    EXPECT_THAT(r.out, HasSubstr("lorafarm " + name)) << name << "'s examples do not run it";
  }
}

TEST(CliExperience, ABadCommandLineIsExitTwo) {
  EXPECT_EQ(run_lorafarm({"info", model(), "--no-such-option"}).exit_code, 2);
  EXPECT_EQ(run_lorafarm({"eval", "--model", model(), "--data", fortunes(), "--split", "nonsense"}).exit_code, 2);
  EXPECT_EQ(run_lorafarm({"no-such-command"}).exit_code, 2);
  EXPECT_EQ(run_lorafarm({}).exit_code, 2);
  EXPECT_EQ(run_lorafarm({"trials"}).exit_code, 2);  // a required argument missing
}

// A missing file or folder is invalid input: exit 1, one line naming it.
TEST(CliExperience, AMissingPathIsOneLineNamingItAndExitOne) {
  ScratchDir dir;
  const std::string missing = (dir / "no-such-model").string();
  const std::vector<std::vector<std::string>> commands = {
      {"info", missing},
      {"eval", "--model", missing, "--data", fortunes()},
      {"generate", "--model", missing, "--prompt", "x"},
      {"train", "--model", missing, "--data", fortunes()},
      {"train", "--config", missing},
      {"sweep", missing, "--db", (dir / "x.db").string()},
      {"status", "--db", missing},
      {"trials", "cmp", "--db", missing},
  };
  for (const auto& args : commands) {
    const auto r = run_lorafarm(args);
    EXPECT_EQ(r.exit_code, 1) << args[0] << ": " << r.err;
    EXPECT_EQ(lines(r.err), 1) << args[0] << ":\n" << r.err;
    EXPECT_THAT(r.err, HasSubstr(missing)) << args[0];
    EXPECT_THAT(r.err, HasSubstr("lorafarm " + args[0] + ": error: ")) << args[0];
  }
}

TEST(CliExperience, ATrainingConfigWithAWrongTypeIsOneLineNamingTheKey) {
  ScratchDir dir;
  const auto config = dir / "config.json";
  write_file(config, json{{"model", model()}, {"data", fortunes()}, {"iters", "many"}}.dump());
  const auto r = run_lorafarm({"train", "--config", config.string()});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(lines(r.err), 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr(config.string()));
  EXPECT_THAT(r.err, HasSubstr("iters has the wrong type: \"many\""));

  write_file(config, json{{"model", model()}, {"data", fortunes()}, {"batch_order", 5}}.dump());
  const auto b = run_lorafarm({"train", "--config", config.string()});
  EXPECT_EQ(b.exit_code, 1) << b.err;
  EXPECT_EQ(lines(b.err), 1) << b.err;
  EXPECT_THAT(b.err, HasSubstr(config.string() + ": batch_order has the wrong type: 5"));

  write_file(config, json{{"model", model()}, {"data", fortunes()}, {"quantization", {{"bits", "four"}}}}.dump());
  const auto q = run_lorafarm({"train", "--config", config.string()});
  EXPECT_EQ(q.exit_code, 1) << q.err;
  EXPECT_EQ(lines(q.err), 1) << q.err;
  EXPECT_THAT(q.err, HasSubstr(config.string() + ": quantization.bits has the wrong type: \"four\""));

  write_file(config, "{\"iters\": ");
  const auto c = run_lorafarm({"train", "--config", config.string()});
  EXPECT_EQ(c.exit_code, 1) << c.err;
  EXPECT_EQ(lines(c.err), 1) << c.err;
  EXPECT_THAT(c.err, HasSubstr("not valid JSON"));
}

TEST(CliExperience, InfoAndEvalJsonParseWithTheirKeys) {
  const auto info = run_lorafarm({"info", model(), "--json", "--estimate", "lora"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  const json i = json::parse(info.out);
  expect_keys(i, {"model", "model_type", "num_layers", "hidden_size", "vocab_size", "context", "parameters", "bytes_by_dtype",
                  "inference_memory_bytes", "training_estimate"});
  expect_keys(i["training_estimate"], {"method", "trainable_params", "predicted_peak_rss_mb", "bytes"});

  const auto eval = run_lorafarm({"eval", "--model", model(), "--data", fortunes(), "--split", "valid", "--max-seq-length", "32",
                                  "--threads", "1", "--json"});
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  const json e = json::parse(eval.out);
  expect_keys(e, {"split", "loss", "perplexity", "tokens", "samples", "seconds", "tokens_per_second"});
  EXPECT_EQ(e["split"], "valid");
  EXPECT_GT(e["tokens"].get<int64_t>(), 0);
  EXPECT_EQ(eval.err, "");  // no progress line with --json
}

TEST(CliExperience, StatusAndTrialsJsonParseWithTheirKeys) {
  ScratchDir dir;
  const auto db = (dir / "db.sqlite").string();
  build_report_store(db);

  const auto all = run_lorafarm({"status", "--db", db, "--json"});
  ASSERT_EQ(all.exit_code, 0) << all.err;
  const json list = json::parse(all.out);
  ASSERT_TRUE(list.is_array());
  ASSERT_EQ(list.size(), 1u);
  const auto one = run_lorafarm({"status", "cmp", "--db", db, "--json"});
  ASSERT_EQ(one.exit_code, 0) << one.err;
  const json s = json::parse(one.out);
  expect_keys(s, {"experiment", "status", "objective", "budget", "trials", "counts", "groups", "best"});
  EXPECT_EQ(s, list[0]);

  const auto trials = run_lorafarm({"trials", "cmp", "--db", db, "--json"});
  ASSERT_EQ(trials.exit_code, 0) << trials.err;
  const json t = json::parse(trials.out);
  ASSERT_TRUE(t.is_array());
  ASSERT_FALSE(t.empty());
  for (const auto& row : t) expect_keys(row, {"trial", "status", "attempt", "seed", "params", "worker", "objective", "error"});

  const auto unknown = run_lorafarm({"status", "nope", "--db", db, "--json"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_EQ(lines(unknown.err), 1) << unknown.err;
}

TEST(CliExperience, ValidateJsonParsesWithItsChecks) {
  const auto r = run_lorafarm({"validate", "--model", model(), "--data", fortunes(), "--threads", "1", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const json v = json::parse(r.out);
  expect_keys(v, {"model", "data", "ok", "checks"});
  EXPECT_TRUE(v["ok"].get<bool>());
  ASSERT_TRUE(v["checks"].is_array());
  ASSERT_FALSE(v["checks"].empty());
  for (const auto& check : v["checks"]) {
    expect_keys(check, {"name", "ok", "detail"});
    EXPECT_TRUE(check["ok"].get<bool>()) << check.dump();
  }
}

std::vector<std::string> tiny_train(const ScratchDir& dir) {
  return {"train", "--model", model(), "--data", fortunes(), "--iters", "4", "--batch-size", "2", "--max-seq-length", "32",
          "--steps-per-report", "1", "--steps-per-eval", "2", "--val-batches", "1", "--threads", "1", "--adapter-path",
          (dir / "adapter").string()};
}

// run_lorafarm gives the child pipes, not a terminal: plain lines only.
TEST(CliExperience, TrainOnAPipePrintsPlainLinesAndJsonLinesEndWithFinal) {
  ScratchDir dir;
  const auto plain = run_lorafarm(tiny_train(dir));
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  for (const std::string* text : {&plain.out, &plain.err}) {
    EXPECT_EQ(text->find('\r'), std::string::npos) << *text;
    EXPECT_EQ(text->find('\x1b'), std::string::npos) << *text;
  }
  EXPECT_THAT(plain.out, HasSubstr("step 4: train loss"));
  EXPECT_THAT(plain.out, HasSubstr("adapter saved to"));

  auto args = tiny_train(dir);
  args.push_back("--json");
  const auto lines_out = run_lorafarm(args);
  ASSERT_EQ(lines_out.exit_code, 0) << lines_out.err;
  EXPECT_EQ(lines_out.out.find('\r'), std::string::npos);
  std::istringstream in(lines_out.out);
  std::string line;
  std::vector<json> parsed;
  while (std::getline(in, line)) parsed.push_back(json::parse(line));
  ASSERT_GE(parsed.size(), 3u);
  for (std::size_t k = 0; k + 1 < parsed.size(); ++k) {
    EXPECT_FALSE(parsed[k].contains("final")) << parsed[k].dump();
    EXPECT_TRUE(parsed[k].contains("step")) << parsed[k].dump();
  }
  const json& last = parsed.back();
  EXPECT_EQ(last.value("final", false), true) << last.dump();
  expect_keys(last, {"val_loss", "val_ppl", "test_loss", "peak_rss_mb", "trainable_params", "adapter_path"});
}

}  // namespace
}  // namespace lorafarm::cli
