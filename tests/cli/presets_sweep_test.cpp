// Sweeps of preset trials ("kind": "mlx_lm" and "hf_trainer") through real
// workers, with fixture trainers that print mlx-lm's and the Trainer's
// documented formats (tests/cli/fixtures): what each trial received (YAML
// config, flags), the values collected at each step and at the end, and
// ASHA's stops (SIGTERM, then SIGKILL after trial.stop_grace_seconds).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "schema/store.h"
#include "test_support.h"

namespace lorafarm::testing {
namespace {

using nlohmann::json;

// The fixtures print 3 decimals.
constexpr double kPrinted = 5e-4 + 1e-12;

std::string fixture(const std::string& name) { return (source_dir() / "tests/cli/fixtures" / name).string(); }

std::filesystem::path trial_dir(const ScratchDir& dir, const std::string& experiment, const schema::TrialRecord& t) {
  return dir / "work" / experiment / ("trial-" + std::to_string(t.number) + "-a1");
}

struct Sweep {
  std::vector<schema::TrialRecord> trials;
  std::vector<schema::EventRecord> events;
  std::string db;
};

Sweep run_sweep(const ScratchDir& dir, const json& spec, int workers = 2) {
  write_file(dir / "spec.json", spec.dump(2));
  Sweep s;
  s.db = (dir / "s.db").string();
  const auto r = run_lorafarm({"sweep", (dir / "spec.json").string(), "--db", s.db, "--workers",
                               std::to_string(workers), "--workdir", (dir / "work").string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto store = schema::Store::open_reader(s.db);
  const auto experiment = store.find_experiment(spec["name"].get<std::string>());
  if (!experiment) return s;
  s.trials = store.trials(experiment->id);
  s.events = store.events(experiment->id);
  return s;
}

// metric name -> step -> value.
std::map<std::string, std::map<std::int64_t, double>> curves(const std::string& db, std::int64_t trial_id) {
  auto store = schema::Store::open_reader(db);
  std::map<std::string, std::map<std::int64_t, double>> out;
  for (const auto& m : store.metrics(trial_id))
    if (m.value) out[m.name][m.step] = *m.value;
  return out;
}

json mlx_spec(const std::string& name) {
  return {
      {"name", name},
      {"seed", 11},
      {"model", "mlx-community/Qwen2.5-0.5B-Instruct-4bit"},
      {"data", "data"},
      {"objective", {{"metric", "val_loss"}, {"direction", "minimize"}}},
      {"budget", {{"trials", 4}}},
      {"search", {{"algorithm", "grid"}, {"shuffle", false}}},
      {"search_space",
       {{"learning_rate", {{"type", "categorical"}, {"values", {1e-4, 1e-3}}}},
        {"rank", {{"type", "categorical"}, {"values", {4, 8}}}}}},
      {"fixed",
       {{"iters", 20},
        {"steps_per_eval", 5},
        {"steps_per_report", 5},
        {"alpha", 16},
        {"dropout", 0.05},
        {"test", true}}},
      {"trial", {{"kind", "mlx_lm"}, {"program", {"python3", fixture("fake_mlx_lm.py")}}, {"timeout_seconds", 60}}}};
}

TEST(PresetsSweep, MlxLmTrialsGetTheirYamlConfigAndTheirPrintedLinesBecomeCurvesAndResults) {
  ScratchDir dir;
  std::filesystem::create_directories(dir / "data");
  const auto s = run_sweep(dir, mlx_spec("mlx-preset"));
  ASSERT_EQ(s.trials.size(), 4u);
  auto store = schema::Store::open_reader(s.db);
  for (const auto& t : s.trials) {
    ASSERT_EQ(t.status, schema::TrialStatus::Completed) << t.error;
    const double lr = t.params["learning_rate"].get<double>();
    const int rank = t.params["rank"].get<int>();
    const auto folder = trial_dir(dir, "mlx-preset", t);
    const json received = json::parse(read_file(folder / "received.json"));
    const std::string cwd = received["cwd"];
    EXPECT_EQ(received["argv"], json({"--config", cwd + "/mlx_lm_config.yaml"}));
    const json& c = received["config"];  // as PyYAML read it
    EXPECT_EQ(c["model"], "mlx-community/Qwen2.5-0.5B-Instruct-4bit") << "a hub name stays as written";
    EXPECT_EQ(c["data"], (dir / "data").string()) << "a local folder becomes absolute";
    EXPECT_EQ(c["train"], true);
    EXPECT_EQ(c["adapter_path"], cwd + "/artifacts/adapters");
    EXPECT_EQ(c["seed"], t.seed);
    EXPECT_EQ(c["iters"], 20);
    EXPECT_EQ(c["test"], true);
    EXPECT_TRUE(c["learning_rate"].is_number_float()) << "1e-04 must read back as a float: " << c.dump();
    EXPECT_DOUBLE_EQ(c["learning_rate"].get<double>(), lr);
    EXPECT_EQ(c["lora_parameters"]["rank"], rank);
    EXPECT_DOUBLE_EQ(c["lora_parameters"]["scale"].get<double>(), 16.0 / rank) << "scale = alpha / rank";
    EXPECT_DOUBLE_EQ(c["lora_parameters"]["dropout"].get<double>(), 0.05);

    const double b = lr * 1000 + 1.0 / rank;
    auto curve = curves(s.db, t.id);
    std::vector<std::int64_t> val_steps;
    for (const auto& [step, v] : curve["val_loss"]) {
      val_steps.push_back(step);
      EXPECT_NEAR(v, b + 1.0 / static_cast<double>(step), kPrinted) << "val_loss at " << step;
    }
    EXPECT_EQ(val_steps, (std::vector<std::int64_t>{1, 5, 10, 15, 20})) << "the first iteration, every steps_per_eval";
    ASSERT_EQ(curve["train_loss"].size(), 4u);
    for (const auto& [step, v] : curve["train_loss"]) EXPECT_NEAR(v, b + 2.0 / static_cast<double>(step), kPrinted);
    EXPECT_NEAR(curve["peak_memory_gb"][20], 0.5 + rank / 100.0, kPrinted);
    EXPECT_DOUBLE_EQ(curve["trained_tokens"][15], 1500);
    EXPECT_DOUBLE_EQ(curve["learning_rate"][10], lr);

    ASSERT_TRUE(t.objective);
    EXPECT_NEAR(*t.objective, b + 1.0 / 20, kPrinted) << "the last validation";
    const auto result = store.result(t.id);
    ASSERT_TRUE(result);
    EXPECT_NEAR(result->metrics.value("test_loss", -1.0), b + 0.5, kPrinted);
    EXPECT_NEAR(result->metrics.value("test_ppl", -1.0), std::exp(b + 0.5), 2e-3 * std::exp(b + 0.5))
        << "read before the full stop";
    EXPECT_NEAR(result->metrics.value("peak_memory_gb", -1.0), 0.5 + rank / 100.0, kPrinted);
    EXPECT_FALSE(result->metrics.contains("reported_peak_rss_mb"));
    EXPECT_TRUE(result->peak_rss_mb) << "the worker's own wait4 figure";
  }
}

json asha_mlx_spec(const std::string& name, const std::string& on_sigterm, double grace) {
  json spec = mlx_spec(name);
  spec["budget"] = {{"trials", 9}};
  spec["search"] = {{"algorithm", "random"}};
  spec["search_space"] = {{"learning_rate", {{"type", "float"}, {"low", 1e-4}, {"high", 3e-3}}}};
  spec["fixed"] = {{"iters", 9}, {"rank", 8}, {"steps_per_eval", 1}, {"steps_per_report", 100}};
  spec["scheduler"] = {{"type", "asha"}, {"min_resource", 1}, {"reduction_factor", 3}};
  spec["trial"]["config"] = {{"fixture_sleep", 0.25}};
  if (!on_sigterm.empty()) spec["trial"]["config"]["fixture_on_sigterm"] = on_sigterm;
  spec["trial"]["stop_grace_seconds"] = grace;
  return spec;
}

int count_pruned(const Sweep& s) {
  return static_cast<int>(std::count_if(s.trials.begin(), s.trials.end(),
                                        [](const auto& t) { return t.status == schema::TrialStatus::Pruned; }));
}

TEST(PresetsSweep, AshaPrunesMlxLmTrialsThatTrapSigtermAtTheIterationTheyReached) {
  ScratchDir dir;
  std::filesystem::create_directories(dir / "data");
  const auto s = run_sweep(dir, asha_mlx_spec("mlx-asha", "exit", 10.0));
  ASSERT_EQ(s.trials.size(), 9u);
  EXPECT_GT(count_pruned(s), 0);
  for (const auto& t : s.trials) {
    const auto val = curves(s.db, t.id)["val_loss"];
    ASSERT_FALSE(val.empty());
    if (t.status != schema::TrialStatus::Pruned) {
      ASSERT_EQ(t.status, schema::TrialStatus::Completed) << t.error;
      EXPECT_EQ(val.rbegin()->first, 9);
      continue;
    }
    // The trainer got SIGTERM, recorded where it was and exited by itself.
    const auto marker = trial_dir(dir, "mlx-asha", t) / "sigterm.json";
    ASSERT_TRUE(std::filesystem::exists(marker)) << "trial " << t.number << " was not sent SIGTERM";
    const auto reached = json::parse(read_file(marker))["iteration"].get<std::int64_t>();
    EXPECT_LT(reached, 9);
    EXPECT_EQ(val.rbegin()->first, reached) << "PRUNED at the last iteration it reported";
    for (const auto& e : s.events)
      if (e.kind == "TRIAL_FAILED" && e.trial_number == t.number) {
        EXPECT_EQ(e.detail["cause"], "stopped");
        EXPECT_EQ(e.detail["exit_code"], 0) << "it exited on its own, no SIGKILL";
      }
  }
}

TEST(PresetsSweep, AnMlxLmTrialThatIgnoresSigtermIsKilledAfterTheGracePeriod) {
  ScratchDir dir;
  std::filesystem::create_directories(dir / "data");
  constexpr double kGrace = 0.6;
  const auto s = run_sweep(dir, asha_mlx_spec("mlx-ignore", "ignore", kGrace));
  ASSERT_EQ(s.trials.size(), 9u);
  ASSERT_GT(count_pruned(s), 0);
  for (const auto& t : s.trials) {
    if (t.status != schema::TrialStatus::Pruned) continue;
    double stopped_at = -1, failed_at = -1;
    json failed;
    for (const auto& e : s.events) {
      if (e.trial_number != t.number) continue;
      if (e.kind == "SCHEDULER_STOP") stopped_at = e.time;
      if (e.kind == "TRIAL_FAILED") failed_at = e.time, failed = e.detail;
    }
    ASSERT_GE(stopped_at, 0);
    ASSERT_GE(failed_at, 0);
    EXPECT_EQ(failed["signal"], 9) << "SIGKILL: " << failed.dump();
    EXPECT_EQ(failed["cause"], "stopped");
    EXPECT_GE(failed_at - stopped_at, kGrace) << "SIGKILL came only after the grace period";
    // Ignoring SIGTERM, it kept printing during the grace period: still before
    // its last iteration.
    const auto val = curves(s.db, t.id)["val_loss"];
    EXPECT_LT(val.rbegin()->first, 9);
  }
}

TEST(PresetsSweep, HfTrainerTrialsGetTrainerFlagsAndTheirLogDictsAndTrainerStateBecomeCurvesAndResults) {
  ScratchDir dir;
  std::filesystem::create_directories(dir / "data");
  const json spec{{"name", "hf-preset"},
                  {"model", "sshleifer/tiny-gpt2"},
                  {"data", "data"},
                  {"objective", {{"metric", "val_loss"}, {"direction", "minimize"}}},
                  {"budget", {{"trials", 2}}},
                  {"search", {{"algorithm", "grid"}, {"shuffle", false}}},
                  {"search_space", {{"learning_rate", {{"type", "categorical"}, {"values", {2e-4, 1e-3}}}}}},
                  {"fixed",
                   {{"max_steps", 20},
                    {"logging_steps", 5},
                    {"eval_steps", 10},
                    {"save_steps", 10},
                    {"rank", 8},
                    {"alpha", 16},
                    {"dropout", 0.05},
                    {"fine_tune_type", "lora"},
                    {"batch_size", 2},
                    {"lora_target_modules", {"q_proj", "v_proj"}}}},
                  {"trial",
                   {{"kind", "hf_trainer"},
                    {"command", {"python3", fixture("fake_hf_trainer.py")}},
                    {"flags", {{"--report_to", "none"}}},
                    {"timeout_seconds", 60}}}};
  const auto s = run_sweep(dir, spec);
  ASSERT_EQ(s.trials.size(), 2u);
  auto store = schema::Store::open_reader(s.db);
  for (const auto& t : s.trials) {
    ASSERT_EQ(t.status, schema::TrialStatus::Completed) << t.error;
    const double lr = t.params["learning_rate"].get<double>();
    const json received = json::parse(read_file(trial_dir(dir, "hf-preset", t) / "received.json"));
    const json& a = received["args"];  // as argparse read the flags
    EXPECT_EQ(a["output_dir"], received["cwd"].get<std::string>() + "/artifacts/output");
    EXPECT_EQ(a["model_name_or_path"], "sshleifer/tiny-gpt2");
    EXPECT_EQ(a["dataset_name"], (dir / "data").string());
    EXPECT_DOUBLE_EQ(a["learning_rate"].get<double>(), lr);
    EXPECT_EQ(a["per_device_train_batch_size"], 2);
    EXPECT_EQ(a["max_steps"], 20);
    EXPECT_EQ(a["logging_steps"], 5);
    EXPECT_EQ(a["eval_strategy"], "steps");
    EXPECT_EQ(a["eval_steps"], 10);
    EXPECT_EQ(a["save_steps"], 10);
    EXPECT_EQ(a["seed"], t.seed);
    EXPECT_EQ(a["use_peft"], true);
    EXPECT_EQ(a["use_dora"], false);
    EXPECT_EQ(a["lora_r"], 8);
    EXPECT_EQ(a["lora_alpha"], 16);
    EXPECT_DOUBLE_EQ(a["lora_dropout"].get<double>(), 0.05);
    EXPECT_EQ(a["lora_target_modules"], json({"q_proj", "v_proj"}));
    EXPECT_EQ(a["report_to"], "none");

    const double b = lr * 1000 + 1.0 / 8;
    auto curve = curves(s.db, t.id);
    ASSERT_EQ(curve["val_loss"].size(), 2u) << "eval_loss at steps 10 and 20, each once although 3 files repeat it";
    EXPECT_DOUBLE_EQ(curve["val_loss"][10], b + 0.1);
    EXPECT_DOUBLE_EQ(curve["val_loss"][20], b + 0.05);
    ASSERT_EQ(curve["train_loss"].size(), 4u);
    for (const auto& [step, v] : curve["train_loss"]) EXPECT_NEAR(v, b + 2.0 / static_cast<double>(step), 5e-5 + 1e-12);
    ASSERT_TRUE(t.objective);
    EXPECT_DOUBLE_EQ(*t.objective, b + 0.05);
    const auto result = store.result(t.id);
    ASSERT_TRUE(result);
    double mean = 0;
    for (int step = 1; step <= 20; ++step) mean += (b + 2.0 / step) / 20;
    EXPECT_NEAR(result->metrics.value("mean_train_loss", -1.0), mean, 1e-9) << "the closing summary's train_loss";
    EXPECT_DOUBLE_EQ(result->metrics.value("train_runtime", -1.0), 1.5);
  }
}

TEST(PresetsCli, ValidateSpecPrintsTheExpandedCommandConfigAndCollectors) {
  const auto r = run_lorafarm({"validate", (source_dir() / "examples/mlx_lm_sweep.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("mlx_lm.lora --config {trial_dir}/mlx_lm_config.yaml"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  scale: \"{alpha}/{rank}\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("adapter_path: \"{trial_dir}/artifacts/adapters\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Peak mem (?<peak_memory_gb>"), std::string::npos) << r.out;

  const auto j = run_lorafarm({"validate", (source_dir() / "examples/mlx_lm_sweep.json").string(), "--json"});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  const json out = json::parse(j.out);
  EXPECT_EQ(out["trial"]["kind"], "mlx_lm");
  EXPECT_EQ(out["trial"]["parameters"]["alpha"], "lora_parameters.scale = alpha / rank");
  EXPECT_EQ(out["trial"]["metrics"]["collectors"].size(), 8u);
}

TEST(PresetsCli, ValidateSpecNamesTheFieldOfAMistake) {
  ScratchDir dir;
  json spec = mlx_spec("bad");
  spec["trial"]["flags"] = {{"test", true}};
  write_file(dir / "spec.json", spec.dump());
  const auto r = run_lorafarm({"validate", (dir / "spec.json").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("trial.flags.test: a flag starts with '-'"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace lorafarm::testing
