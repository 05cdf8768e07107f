// Issue 20's second trainer farmed as users farm theirs: the PyTorch script
// (examples/hf_lora_trainer.py) run by a sweep through the `hf_trainer`
// preset. The oracle is what the script itself wrote, in the Hugging Face
// Trainer's format: each trial's output/trainer_state.json `log_history`.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "schema/store.h"
#include "test_support.h"
#include "torch_trainer_support.h"

namespace lorafarm::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

json preset_sweep(const std::string& python) {
  return {{"name", "torch-preset"},
          {"seed", 42},
          {"model", bundled_model().string()},
          {"data", bundled_data("fortunes").string()},
          {"objective", {{"metric", "val_loss"}, {"direction", "minimize"}}},
          {"budget", {{"trials", 2}}},
          {"search", {{"algorithm", "grid"}, {"shuffle", false}}},
          {"search_space", {{"learning_rate", {{"type", "categorical"}, {"values", {0.001, 0.003}}}}}},
          {"fixed",
           {{"fine_tune_type", "lora"}, {"rank", 8}, {"scale", 20}, {"dropout", 0}, {"lora_target_modules", "all-linear"},
            {"lr_scheduler_type", "constant"}, {"max_grad_norm", 0}, {"batch_size", 8}, {"iters", 20}, {"max_length", 256},
            {"logging_steps", 10}, {"eval_steps", 10}, {"save_steps", 10}}},
          {"trial",
           {{"kind", "hf_trainer"},
            {"command", {python, torch_trainer_script().string()}},
            {"flags", {{"--val_batches", "10"}}},
            {"timeout_seconds", 600}}}};
}

// log_history entries of one trainer_state.json that carry `key`, by step.
std::map<std::int64_t, double> logged(const fs::path& state_file, const std::string& key) {
  std::map<std::int64_t, double> out;
  const json state = json::parse(std::ifstream(state_file));
  for (const auto& entry : state.at("log_history"))
    if (entry.contains(key)) out[entry.at("step").get<std::int64_t>()] = entry.at(key).get<double>();
  return out;
}

TEST(AcceptanceTorchTrainer, FarmedThroughTheHfTrainerPresetItsOwnLogsBecomeTheResults) {
  if (torch_python().empty()) GTEST_SKIP() << "no python3 with torch (scripts/setup.sh installs python3-torch)";
  ScratchDir dir;
  write_file(dir / "spec.json", preset_sweep(torch_python()).dump(2));
  const auto db = dir / "torch.db";
  const auto sweep = run_lorafarm({"sweep", (dir / "spec.json").string(), "--db", db.string(), "--workers", "2"});
  ASSERT_EQ(sweep.exit_code, 0) << sweep.out << sweep.err;

  auto store = schema::Store::open_reader(db.string());
  const auto trials = store.trials(store.find_experiment("torch-preset")->id);
  ASSERT_EQ(trials.size(), 2u);
  for (const auto& trial : trials) {
    ASSERT_EQ(trial.status, schema::TrialStatus::Completed) << trial.error;
    const fs::path output = dir / "torch-artifacts" / "trials" / "torch-preset" /
                            ("trial-" + std::to_string(trial.number) + "-a1") / "artifacts" / "output";
    ASSERT_TRUE(fs::exists(output / "trainer_state.json")) << output;
    const auto eval_losses = logged(output / "trainer_state.json", "eval_loss");
    const auto train_losses = logged(output / "trainer_state.json", "loss");
    ASSERT_FALSE(eval_losses.empty());
    // The result is the script's last eval_loss (its whole-split evaluation at the end).
    EXPECT_EQ(store.result(trial.id)->metrics.at("val_loss").get<double>(), eval_losses.rbegin()->second) << trial.number;
    // Its learning curve: every logged loss at its step, as the Trainer wrote it.
    std::map<std::int64_t, double> curve;
    for (const auto& m : store.metrics(trial.id))
      if (m.name == "train_loss" && m.value) curve[m.step] = *m.value;
    EXPECT_EQ(curve, train_losses) << trial.number;
    EXPECT_EQ(curve.size(), 2u);  // steps 10 and 20
  }

  // The best trial's final PEFT adapter (not a checkpoint's) leaves through
  // `export` and scores the recorded val_loss in lorafarm's own evaluation.
  const auto exported = dir / "best-adapter";
  const auto r = run_lorafarm({"export", "torch-preset", "--best", "--to", exported.string(), "--db", db.string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(fs::path(json::parse(r.out)["adapter"].get<std::string>()).filename(), "output");
  const auto eval = run_lorafarm({"eval", "--model", bundled_model().string(), "--data", bundled_data("fortunes").string(), "--split",
                                  "valid", "--max-seq-length", "256", "--add-eos", "--threads", "1", "--adapter", exported.string(), "--json"});
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  const auto best = json::parse(r.out)["trial"].get<std::size_t>();
  const double recorded = store.result(trials.at(best).id)->metrics.at("val_loss").get<double>();
  EXPECT_NEAR(json::parse(eval.out)["loss"].get<double>() / recorded, 1.0, 1e-5);
}

}  // namespace
}  // namespace lorafarm::testing
