// Checkpoint resume (issue 19, item 2), with real processes over TCP: a
// worker is SIGKILLed part way through a trial; the next attempt runs on
// another worker (its own --id and --workdir, as on another machine), pulls
// the last checkpoint that came home from the coordinator, and continues.
// The oracles: an uninterrupted `lorafarm train` of the same config (engine),
// and the bytes the first attempt wrote (command).
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <sstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/background_process.h"
#include "schema/store.h"
#include "test_support.h"

namespace lorafarm::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr int kIters = 500;
constexpr int kEvery = 50;

std::vector<std::string> worker_argv(const std::string& endpoint, const ScratchDir& dir, const std::string& id) {
  return {lorafarm_binary().string(), "worker", "--connect", endpoint, "--id", id, "--workdir", (dir / ("work-" + id)).string(),
          "--heartbeat-ms", "200"};
}

std::vector<std::string> sweep_argv(const ScratchDir& dir, const std::string& endpoint) {
  return {lorafarm_binary().string(), "sweep", (dir / "spec.json").string(), "--db", (dir / "ck.db").string(), "--bind", endpoint,
          "--heartbeat-ms", "200", "--liveness", "10", "--log-level", "info"};
}

// The first `lines` records of a bundled split.
void copy_head(const std::string& split, const fs::path& to, int lines) {
  std::ifstream in(bundled_data("fortunes") / (split + ".jsonl"));
  std::string text, line;
  for (int i = 0; i < lines && std::getline(in, line); ++i) text += line + "\n";
  fs::create_directories(to);
  write_file(to / (split + ".jsonl"), text);
}

void write_engine_spec(const ScratchDir& dir) {
  copy_head("train", dir / "data", 64);
  copy_head("valid", dir / "data", 16);
  write_file(dir / "spec.json",
             json{{"name", "ck"},
                  {"seed", 3},
                  {"model", bundled_model().string()},
                  {"data", (dir / "data").string()},
                  {"budget", {{"trials", 1}, {"max_attempts", 3}}},
                  {"search", {{"algorithm", "grid"}}},
                  {"search_space", {{"learning_rate", {{"type", "categorical"}, {"values", {0.002}}}}}},
                  {"fixed",
                   {{"method", "lora"}, {"rank", 4}, {"dropout", 0.1}, {"iters", kIters}, {"batch_size", 2}, {"max_seq_length", 48},
                    {"steps_per_report", 5}, {"steps_per_eval", 1000}, {"val_batches", 2}, {"batch_order", "shuffle"},
                    {"checkpoint_every", kEvery}, {"test", false}, {"threads", 1}}},
                  {"trial", {{"kind", "engine"}, {"timeout_seconds", 600}}}}
                 .dump(2));
}

// Waits up to `seconds` for `ready`; true when it came.
bool wait_for(double seconds, const std::function<bool()>& ready) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < until) {
    if (ready()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

// The home folder of attempt 1's checkpoints in the coordinator's store.
fs::path home_checkpoints(const ScratchDir& dir, const std::string& experiment) {
  return dir / (experiment + "-artifacts") / "trials" / experiment / "trial-0-a1" / "checkpoints";
}

// Whether the checkpoint of `step` is home: its manifest and state file are in the store.
bool engine_checkpoint_home(const ScratchDir& dir, int step) {
  char state[64];
  std::snprintf(state, sizeof state, "training_state-%09d.safetensors", step);
  const auto folder = home_checkpoints(dir, "ck") / ("step-" + std::to_string(step));
  return fs::is_regular_file(folder / "checkpoint.json") && fs::is_regular_file(folder / state);
}

// The highest step attempt 1 reported (PROGRESS) before it was killed.
std::int64_t last_reported_step(schema::Store& store, std::int64_t trial_id) {
  std::int64_t last = 0;
  for (const auto& m : store.metrics(trial_id))
    if (m.attempt == 1) last = std::max(last, m.step);
  return last;
}

// The val_loss an uninterrupted `lorafarm train` of attempt 2's config ends with.
double uninterrupted_val_loss(const ScratchDir& dir) {
  json config = json::parse(read_file(dir / "work-b" / "ck" / "trial-0-a2" / "trial.json"));
  config.erase("resume_checkpoint");
  config.erase("checkpoint_dir");
  config["checkpoint_every"] = 0;
  config["adapter_path"] = (dir / "straight").string();
  write_file(dir / "straight.json", config.dump());
  const auto r = run_lorafarm({"train", "--config", (dir / "straight.json").string(), "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  json final_line;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);)
    if (auto j = json::parse(line, nullptr, false); j.is_object() && j.value("final", false)) final_line = j;
  return final_line.at("val_loss").get<double>();
}

TEST(CheckpointResume, AKilledWorkersEngineTrialResumesElsewhereAndEndsBitIdentical) {
  ScratchDir dir;
  write_engine_spec(dir);
  const std::string endpoint = "tcp://127.0.0.1:" + std::to_string(20000 + (::getpid() + 29) % 20000);
  const auto log = dir / "coordinator.log";
  BackgroundProcess coordinator(sweep_argv(dir, endpoint), log);
  auto first = std::make_unique<BackgroundProcess>(worker_argv(endpoint, dir, "a"), dir / "worker-a.log");
  // About 70 %: once the checkpoint of step 350 is home, the worker dies.
  constexpr int kCut = kIters * 7 / 10;
  ASSERT_TRUE(wait_for(300, [&] { return engine_checkpoint_home(dir, kCut); })) << read_file(log) << read_file(dir / "worker-a.log");
  first->signal(SIGKILL);
  ASSERT_TRUE(first->wait(10));
  BackgroundProcess second(worker_argv(endpoint, dir, "b"), dir / "worker-b.log");
  const auto code = coordinator.wait(300);
  ASSERT_TRUE(code) << read_file(log);
  ASSERT_EQ(*code, 0) << read_file(log);

  auto store = schema::Store::open_reader(dir / "ck.db");
  const auto e = store.find_experiment("ck");
  ASSERT_TRUE(e);
  const auto trial = store.trials(e->id).at(0);
  EXPECT_EQ(trial.status, schema::TrialStatus::Completed) << read_file(log);
  EXPECT_EQ(trial.attempt, 2);
  std::optional<json> resumed;
  for (const auto& ev : store.events(e->id))
    if (ev.kind == "CHECKPOINT_RESUMED") resumed = ev.detail;
  ASSERT_TRUE(resumed) << read_file(log);
  const auto resume_step = (*resumed)["step"].get<std::int64_t>();
  const auto killed_at = last_reported_step(store, trial.id);
  EXPECT_EQ((*resumed)["from_attempt"], 1);
  EXPECT_GE(resume_step, kCut);
  EXPECT_LE(killed_at - resume_step, kEvery) << "the resumed attempt repeats more than one checkpoint interval";
  std::cout << "killed after step " << killed_at << ", resumed after step " << resume_step << ": " << killed_at - resume_step
            << " steps repeated\n";
  EXPECT_NE(read_file(dir / "worker-b.log").find("resumes after step " + std::to_string(resume_step)), std::string::npos);

  const auto result = store.result(trial.id);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->attempt, 2);
  EXPECT_EQ(result->metrics["val_loss"].get<double>(), uninterrupted_val_loss(dir));
}

// A command trial whose first attempt writes its checkpoint folder (a file
// and a nested one), announces it and hangs; its worker is killed; the second
// attempt, on another worker, finds the same bytes and the step.
TEST(CheckpointResume, ACommandTrialGetsItsCheckpointFolderBackOnTheNextAttempt) {
  ScratchDir dir;
  const std::string script =
      "set -e; cd \"$LORAFARM_CHECKPOINT_DIR\"; "
      "if [ -f state.txt ]; then "
      "  [ \"$(cat sub/note.txt)\" = 'nested file' ]; "
      "  echo \"{\\\"final\\\": true, \\\"val_loss\\\": $(cat state.txt), \\\"resumed_step\\\": $LORAFARM_RESUME_STEP}\"; exit 0; "
      "fi; "
      "echo 0.4375 > state.txt; mkdir -p sub; echo 'nested file' > sub/note.txt; "
      "echo '{\"checkpoint_step\": 7}'; exec sleep 120";
  write_file(dir / "spec.json", json{{"name", "cmd"},
                                     {"seed", 1},
                                     {"budget", {{"trials", 1}, {"max_attempts", 2}}},
                                     {"search_space", {{"x", {{"type", "float"}, {"low", 0}, {"high", 1}}}}},
                                     {"trial", {{"kind", "command"}, {"command", script}, {"timeout_seconds", 200}}}}
                                    .dump());
  const std::string endpoint = "tcp://127.0.0.1:" + std::to_string(20000 + (::getpid() + 31) % 20000);
  const auto log = dir / "coordinator.log";
  std::vector<std::string> sweep = sweep_argv(dir, endpoint);
  sweep[4] = (dir / "cmd.db").string();
  BackgroundProcess coordinator(sweep, log);
  auto first = std::make_unique<BackgroundProcess>(worker_argv(endpoint, dir, "a"), dir / "worker-a.log");
  const auto home = home_checkpoints(dir, "cmd") / "step-7";
  ASSERT_TRUE(wait_for(60, [&] { return fs::is_regular_file(home / "state.txt") && fs::is_regular_file(home / "sub" / "note.txt"); }))
      << read_file(log) << read_file(dir / "worker-a.log");
  first->signal(SIGKILL);
  ASSERT_TRUE(first->wait(10));
  BackgroundProcess second(worker_argv(endpoint, dir, "b"), dir / "worker-b.log");
  const auto code = coordinator.wait(60);
  ASSERT_TRUE(code) << read_file(log);
  ASSERT_EQ(*code, 0) << read_file(log);

  auto store = schema::Store::open_reader(dir / "cmd.db");
  const auto e = store.find_experiment("cmd");
  ASSERT_TRUE(e);
  const auto trial = store.trials(e->id).at(0);
  const auto result = store.result(trial.id);
  ASSERT_TRUE(result) << read_file(log) << read_file(dir / "worker-b.log");
  EXPECT_EQ(result->attempt, 2);
  EXPECT_EQ(result->metrics["val_loss"].get<double>(), 0.4375);
  EXPECT_EQ(result->metrics["resumed_step"].get<double>(), 7);
  EXPECT_EQ(read_file(dir / "work-b" / "cmd" / "trial-0-a2" / "checkpoint" / "sub" / "note.txt"), "nested file\n");
}

}  // namespace
}  // namespace lorafarm::testing
