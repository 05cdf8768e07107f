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
#include <map>
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

// A loopback endpoint a test of this file owns (`offset` tells the tests apart).
std::string endpoint_for(int offset) { return "tcp://127.0.0.1:" + std::to_string(20000 + (::getpid() + offset) % 20000); }

std::vector<std::string> sweep_argv(const ScratchDir& dir, const std::string& endpoint, const std::string& db = "ck.db") {
  return {lorafarm_binary().string(), "sweep", (dir / "spec.json").string(), "--db", (dir / db).string(), "--bind", endpoint,
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

// One command trial (a shell script) with up to `max_attempts` attempts.
void write_command_spec(const ScratchDir& dir, const std::string& name, const std::string& script, int max_attempts) {
  write_file(dir / "spec.json", json{{"name", name},
                                     {"seed", 1},
                                     {"budget", {{"trials", 1}, {"max_attempts", max_attempts}}},
                                     {"search_space", {{"x", {{"type", "float"}, {"low", 0}, {"high", 1}}}}},
                                     {"trial", {{"kind", "command"}, {"command", script}, {"timeout_seconds", 200}}}}
                                    .dump());
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
  const std::string endpoint = endpoint_for(29);
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
  write_command_spec(dir, "cmd", script, 2);
  const std::string endpoint = endpoint_for(31);
  const auto log = dir / "coordinator.log";
  BackgroundProcess coordinator(sweep_argv(dir, endpoint, "cmd.db"), log);
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
  EXPECT_EQ(result->metrics["resumed_step"].get<double>(), 7);  // the script checked sub/note.txt too
  // The trial has ended for good: worker b deletes its checkpoint folder once the end is recorded.
  ASSERT_TRUE(second.wait(20));
  EXPECT_FALSE(fs::exists(dir / "work-b" / "cmd" / "trial-0-a2" / "checkpoint"));
}

// The regular files under `folder` (none when it does not exist).
std::vector<fs::path> files_under(const fs::path& folder) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(folder, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
    if (it->is_regular_file()) out.push_back(it->path());
  return out;
}

// A command trial announces four checkpoints and, after each, waits (up to
// 20 s) until its worker has deleted the frozen copy of the one before: that
// happens only once the new one is home. When the trial has ended, none of its
// checkpoints is kept anywhere: not on the worker, not in the coordinator's
// store, not among the recorded artifacts.
TEST(CheckpointPruning, OnlyTheLatestCheckpointHomeIsKeptAndNoneOnceTheTrialEnds) {
  ScratchDir dir;
  const std::string script =
      "set -e; cd \"$LORAFARM_CHECKPOINT_DIR\"; frozen=\"$(dirname \"$LORAFARM_CHECKPOINT_DIR\")/checkpoints\"; released=0; "
      "for i in 1 2 3 4; do "
      "  echo $i > state.tmp; mv state.tmp state.txt; echo \"{\\\"checkpoint_step\\\": $i}\"; "
      "  if [ $i -gt 1 ]; then "
      "    n=0; while [ -d \"$frozen/step-$((i-1))\" ] && [ $n -lt 400 ]; do sleep 0.05; n=$((n+1)); done; "
      "    [ -d \"$frozen/step-$((i-1))\" ] || released=$((released+1)); "
      "  fi; "
      "done; "
      "echo \"{\\\"final\\\": true, \\\"val_loss\\\": 0.25, \\\"released\\\": $released}\"";
  write_command_spec(dir, "prune", script, 1);
  const std::string endpoint = endpoint_for(37);
  const auto log = dir / "coordinator.log";
  BackgroundProcess coordinator(sweep_argv(dir, endpoint, "prune.db"), log);
  BackgroundProcess worker(worker_argv(endpoint, dir, "a"), dir / "worker-a.log");
  const auto code = coordinator.wait(120);
  ASSERT_TRUE(code) << read_file(log);
  ASSERT_EQ(*code, 0) << read_file(log);
  ASSERT_TRUE(worker.wait(20));

  auto store = schema::Store::open_reader(dir / "prune.db");
  const auto e = store.find_experiment("prune");
  ASSERT_TRUE(e);
  const auto trial = store.trials(e->id).at(0);
  const auto result = store.result(trial.id);
  ASSERT_TRUE(result) << read_file(log) << read_file(dir / "worker-a.log");
  EXPECT_EQ(result->metrics["released"].get<double>(), 3) << "a frozen checkpoint outlived the next one's arrival";
  std::map<std::int64_t, json> pruned;  // step -> CHECKPOINT_PRUNED detail
  for (const auto& ev : store.events(e->id))
    if (ev.kind == "CHECKPOINT_PRUNED") pruned[ev.detail["step"].get<std::int64_t>()] = ev.detail;
  ASSERT_EQ(pruned.size(), 4u) << read_file(log);
  for (std::int64_t step = 1; step <= 3; ++step) EXPECT_EQ(pruned[step]["superseded_by"]["step"], step + 1);
  EXPECT_EQ(pruned[4]["trial_ended"], "COMPLETED");
  for (const auto& a : store.artifacts(trial.id)) EXPECT_EQ(a.path.find("/checkpoints/"), std::string::npos) << a.path;
  const auto artifacts = dir / "prune-artifacts";
  EXPECT_TRUE(files_under(artifacts / "trials" / "prune" / "trial-0-a1" / "checkpoints").empty());
  EXPECT_TRUE(files_under(artifacts / "objects").empty()) << "a checkpoint's content is still in the store";
  EXPECT_FALSE(fs::exists(dir / "work-a" / "prune" / "trial-0-a1" / "checkpoints"));
  EXPECT_FALSE(fs::exists(dir / "work-a" / "prune" / "trial-0-a1" / "checkpoint"));
}

}  // namespace
}  // namespace lorafarm::testing
