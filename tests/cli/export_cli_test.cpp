// `lorafarm export`: a recorded trial's adapter leaves the artifact store as
// the trial saved it, in the other layout, or fused into its base model, and
// each form scores the validation loss the trial recorded. The oracles are the
// recorded results and coreutils' sha256sum.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "schema/store.h"
#include "test_support.h"

namespace lorafarm::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

json three_method_sweep() {
  return {{"name", "export-demo"},
          {"seed", 5},
          {"model", bundled_model().string()},
          {"data", bundled_data("fortunes").string()},
          {"objective", {{"metric", "val_loss"}, {"direction", "minimize"}}},
          {"budget", {{"trials", 3}}},
          {"search", {{"algorithm", "grid"}, {"shuffle", false}}},
          {"search_space", {{"method", {{"type", "categorical"}, {"values", {"lora", "dora", "full"}}}}}},
          {"fixed",
           {{"rank", 4}, {"learning_rate", 0.003}, {"iters", 8}, {"batch_size", 4}, {"max_seq_length", 96}, {"steps_per_eval", 100},
            {"test", false}, {"threads", 1}}},
          {"trial", {{"kind", "engine"}, {"timeout_seconds", 300}}}};
}

// The validation loss `lorafarm eval` gives a model folder, with or without an adapter.
double eval_loss(const fs::path& model, const fs::path& adapter = {}) {
  std::vector<std::string> args{"eval", "--model", model.string(), "--data", bundled_data("fortunes").string(), "--split", "valid",
                                "--max-seq-length", "96", "--batch-size", "4", "--add-eos", "--json"};
  if (!adapter.empty()) args.insert(args.end(), {"--adapter", adapter.string()});
  const auto r = run_lorafarm(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return json::parse(r.out)["loss"].get<double>();
}

class ExportCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<ScratchDir>();
    write_file(*dir_ / "spec.json", three_method_sweep().dump(2));
    const auto sweep = run_lorafarm({"sweep", (*dir_ / "spec.json").string(), "--db", db().string(), "--workers", "2"});
    ASSERT_EQ(sweep.exit_code, 0) << sweep.err;
  }
  static void TearDownTestSuite() { dir_.reset(); }
  static fs::path db() { return *dir_ / "night.db"; }
  static fs::path out(const std::string& name) { return *dir_ / name; }

  static ProcessResult run_export(std::vector<std::string> args) {
    args.insert(args.begin(), {"export", "export-demo", "--db", db().string()});
    return run_lorafarm(args);
  }
  // Trial `number`'s recorded validation loss.
  static double recorded_val_loss(std::int64_t number) {
    auto store = schema::Store::open_reader(db().string());
    const auto trials = store.trials(store.find_experiment("export-demo")->id);
    return store.result(trials.at(static_cast<std::size_t>(number)).id)->metrics.at("val_loss").get<double>();
  }

  static std::unique_ptr<ScratchDir> dir_;
};
std::unique_ptr<ScratchDir> ExportCli::dir_;

TEST_F(ExportCli, BestCopiesTheRecordedFilesByteForByte) {
  const auto r = run_export({"--best", "--to", out("best").string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json report = json::parse(r.out);
  auto store = schema::Store::open_reader(db().string());
  const auto trials = store.trials(store.find_experiment("export-demo")->id);
  const auto& best = trials.at(report["trial"].get<std::size_t>());
  for (const auto& t : trials) EXPECT_LE(*best.objective, *t.objective);
  int copied = 0;
  for (const auto& a : store.artifacts(best.id)) {
    if (fs::path(a.path).parent_path() != fs::path(report["adapter"].get<std::string>())) continue;
    const auto exported = out("best") / fs::path(a.path).filename();
    const auto sum = run_process({"/usr/bin/sha256sum", exported.string()});
    EXPECT_EQ(sum.out.substr(0, 64), a.sha256) << exported;
    ++copied;
  }
  EXPECT_GE(copied, 2);  // adapter_config.json and the weights
}

TEST_F(ExportCli, PeftExportsOfLoraAndDoraScoreTheRecordedLoss) {
  for (const std::int64_t trial : {0, 1}) {  // lora, dora
    const auto to = out("peft-" + std::to_string(trial));
    const auto r = run_export({"--trial", std::to_string(trial), "--format", "peft", "--to", to.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ASSERT_TRUE(fs::exists(to / "adapter_model.safetensors"));
    const json config = json::parse(std::ifstream(to / "adapter_config.json"));
    EXPECT_EQ(config["peft_type"], "LORA");
    EXPECT_EQ(config["use_dora"], trial == 1);
    const double recorded = recorded_val_loss(trial);
    EXPECT_NEAR(eval_loss(bundled_model(), to), recorded, 1e-5 * recorded) << "trial " << trial;
  }
}

TEST_F(ExportCli, FusedModelsScoreTheRecordedLossWithoutAnAdapter) {
  for (const std::int64_t trial : {0, 2}) {  // lora, full
    const auto to = out("fused-" + std::to_string(trial));
    const auto r = run_export({"--trial", std::to_string(trial), "--fuse", "--to", to.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const double recorded = recorded_val_loss(trial);
    EXPECT_NEAR(eval_loss(to), recorded, 1e-4 * recorded) << "trial " << trial;
  }
}

TEST_F(ExportCli, RefusalsNameTheProblemAndLeaveNothingBehind) {
  const auto full_as_peft = run_export({"--trial", "2", "--format", "peft", "--to", out("refused").string()});
  EXPECT_EQ(full_as_peft.exit_code, 1);
  EXPECT_NE(full_as_peft.err.find("PEFT layout holds LoRA/DoRA adapters only"), std::string::npos) << full_as_peft.err;
  EXPECT_FALSE(fs::exists(out("refused")));
  EXPECT_FALSE(fs::exists(out("refused.partial")));

  const auto both = run_export({"--trial", "0", "--best", "--to", out("refused").string()});
  EXPECT_EQ(both.exit_code, 1);
  EXPECT_NE(both.err.find("exactly one of --trial N and --best"), std::string::npos) << both.err;
}

// Last in the suite: it changes a recorded file.
TEST_F(ExportCli, ZChangedFileIsRefusedByItsSha256) {
  const auto first = run_export({"--trial", "0", "--to", out("before").string(), "--json"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const fs::path adapter = json::parse(first.out)["adapter"].get<std::string>();
  std::ofstream(adapter / "adapter_config.json", std::ios::app) << " ";
  const auto r = run_export({"--trial", "0", "--to", out("after").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find((adapter / "adapter_config.json").string() + ": sha256"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out("after")));
}

}  // namespace
}  // namespace lorafarm::testing
