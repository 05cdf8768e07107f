// Sweeps of command trials that print no lorafarm JSON: mlx-lm-style log lines
// read by regular expressions (ASHA prunes on them), and Hugging Face
// Trainer-style trainer_state.json files watched in the trial folder.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "schema/store.h"
#include "test_support.h"

namespace lorafarm::testing {
namespace {

using nlohmann::json;

constexpr int kTrials = 12;
constexpr int kIters = 9;

// A stand-in trainer that logs as mlx_lm/tuner/trainer.py does; its
// validation loss at iteration i is x + 1/i. (No f-strings: {name} in a
// command is a placeholder.)
const char* kMlxLikeTrainer = R"(import sys, time
x = float(sys.argv[1])
print('Loading datasets')
print('Starting training..., iters: 9', flush=True)
for it in range(1, 10):
    print('Iter %d: Val loss %.3f, Val took 0.010s' % (it, x + 1.0 / it), flush=True)
    print('Iter %d: Train loss %.3f, Learning Rate 1.000e-05, It/sec 9.000, Tokens/sec 900.000, '
          'Trained Tokens %d, Peak mem 0.010 GB' % (it, x + 2.0 / it, it * 100), flush=True)
    time.sleep(0.05)
print('Saved final weights to adapters/adapters.safetensors.')
)";

// The trainer prints 3 decimals: a value read back is within half a unit of the last.
constexpr double kPrinted = 5e-4 + 1e-12;

TEST(MetricCollectorsSweep, AshaStopsRegexCollectedTrialsAtRungsAndCurvesLandAtTheirIterations) {
  ScratchDir dir;
  const json spec{
      {"name", "mlx-regex"},
      {"seed", 5},
      {"objective", {{"metric", "val_loss"}, {"direction", "minimize"}}},
      {"budget", {{"trials", kTrials}}},
      {"scheduler", {{"type", "asha"}, {"min_resource", 1}, {"max_resource", kIters}, {"reduction_factor", 3}}},
      {"search_space", {{"x", {{"type", "float"}, {"low", 0.0}, {"high", 1.0}}}}},
      {"trial",
       {{"kind", "command"},
        {"command", {"python3", "-c", kMlxLikeTrainer, "{x}"}},
        {"timeout_seconds", 60},
        {"metrics",
         {{"collectors",
           {{{"source", "stdout"}, {"regex", R"(^Iter (?<step>\d+): Val loss (?<val_loss>[0-9.]+))"}},
            {{"source", "stdout"}, {"regex", R"(^Iter (?<step>\d+): Train loss (?<train_loss>[0-9.]+), Learning Rate (?<learning_rate>[-+0-9.e]+))"}}}},
          {"final", {{"val_loss", "last"}}}}}}}};
  write_file(dir / "spec.json", spec.dump(2));
  const auto db = (dir / "s.db").string();
  const auto r = run_lorafarm({"sweep", (dir / "spec.json").string(), "--db", db, "--workers", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  auto store = schema::Store::open_reader(db);
  const auto experiment = store.find_experiment("mlx-regex");
  ASSERT_TRUE(experiment);
  const auto trials = store.trials(experiment->id);
  ASSERT_EQ(trials.size(), static_cast<std::size_t>(kTrials));
  int pruned = 0, completed = 0;
  for (const auto& t : trials) {
    const double x = t.params["x"].get<double>();
    std::map<std::int64_t, double> val, train;
    for (const auto& m : store.metrics(t.id)) {
      if (m.name == "val_loss") val[m.step] = *m.value;
      if (m.name == "train_loss") train[m.step] = *m.value;
    }
    ASSERT_FALSE(val.empty()) << "trial " << t.number;
    for (const auto& [step, value] : val) EXPECT_NEAR(value, x + 1.0 / static_cast<double>(step), kPrinted) << "step " << step;
    for (const auto& [step, value] : train) EXPECT_NEAR(value, x + 2.0 / static_cast<double>(step), kPrinted) << "step " << step;
    if (t.status == schema::TrialStatus::Pruned) {
      ++pruned;
      EXPECT_LT(val.rbegin()->first, kIters) << "a pruned trial stopped before its last iteration";
      continue;
    }
    ASSERT_EQ(t.status, schema::TrialStatus::Completed) << t.error;
    ++completed;
    EXPECT_EQ(val.size(), static_cast<std::size_t>(kIters));
    ASSERT_TRUE(t.objective);
    EXPECT_NEAR(*t.objective, x + 1.0 / kIters, kPrinted) << "last: the final iteration's value";
  }
  EXPECT_GT(pruned, 0);
  EXPECT_GE(completed, 1);
  int stops = 0;
  for (const auto& e : store.events(experiment->id)) stops += e.kind == "SCHEDULER_STOP";
  EXPECT_EQ(stops, pruned);
}

// Writes trainer_state.json into out/checkpoint-<step>/ as the Trainer's
// checkpoints do: the whole log_history each time. Its eval_loss is best at
// step 20 (x + 0.2) and last at step 30 (x + 0.3).
const char* kTrainerStateWriter = R"(import json, os, sys, time
x = float(sys.argv[1])
history = []
for i, e in enumerate([0.5, 0.2, 0.3], 1):
    history.append({'epoch': i / 3, 'learning_rate': 1e-4, 'loss': x + 1.0 / i, 'step': 10 * i})
    history.append({'epoch': i / 3, 'eval_loss': x + e, 'eval_runtime': 0.1, 'step': 10 * i})
    folder = f'out/checkpoint-{10 * i}'
    os.makedirs(folder, exist_ok=True)
    with open(folder + '/trainer_state.json', 'w') as f:
        json.dump({'global_step': 10 * i, 'log_history': history}, f, indent=2, sort_keys=True)
    print(str({'loss': x + 1.0 / i, 'learning_rate': 1e-4, 'epoch': i / 3}), flush=True)
    time.sleep(0.3)
)";

TEST(MetricCollectorsSweep, TrainerStateFilesGiveBestAndLastValuesAndEachStepOnce) {
  ScratchDir dir;
  const json spec{{"name", "hf-state"},
                  {"objective", {{"metric", "eval_loss"}, {"direction", "minimize"}}},
                  {"budget", {{"trials", 2}}},
                  {"search", {{"algorithm", "grid"}, {"shuffle", false}}},
                  {"search_space", {{"x", {{"type", "categorical"}, {"values", {0.1, 0.4}}}}}},
                  {"trial",
                   {{"kind", "command"},
                    {"command", {"python3", "-c", kTrainerStateWriter, "{x}"}},
                    {"timeout_seconds", 60},
                    {"metrics",
                     {{"collectors", {{{"source", "file"}, {"path", "out/checkpoint-*/trainer_state.json"}, {"records", "log_history"}}}},
                      {"final", {{"eval_loss", "best"}, {"loss", "last"}}}}}}}};
  write_file(dir / "spec.json", spec.dump(2));
  const auto db = (dir / "h.db").string();
  const auto r = run_lorafarm({"sweep", (dir / "spec.json").string(), "--db", db, "--workers", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  auto store = schema::Store::open_reader(db);
  const auto trials = store.trials(store.find_experiment("hf-state")->id);
  ASSERT_EQ(trials.size(), 2u);
  for (const auto& t : trials) {
    ASSERT_EQ(t.status, schema::TrialStatus::Completed) << t.error;
    const double x = t.params["x"].get<double>();
    ASSERT_TRUE(t.objective);
    EXPECT_DOUBLE_EQ(*t.objective, x + 0.2) << "best eval_loss, at step 20";
    const auto result = store.result(t.id);
    ASSERT_TRUE(result);
    EXPECT_DOUBLE_EQ(result->metrics.value("loss", -1.0), x + 1.0 / 3) << "last loss";
    std::multimap<std::int64_t, double> eval;
    for (const auto& m : store.metrics(t.id))
      if (m.name == "eval_loss") eval.emplace(m.step, *m.value);
    // Three checkpoints repeat the history: each record still arrives once.
    ASSERT_EQ(eval.size(), 3u);
    EXPECT_DOUBLE_EQ(eval.find(10)->second, x + 0.5);
    EXPECT_DOUBLE_EQ(eval.find(20)->second, x + 0.2);
    EXPECT_DOUBLE_EQ(eval.find(30)->second, x + 0.3);
  }
}

}  // namespace
}  // namespace lorafarm::testing
