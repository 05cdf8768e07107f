// Command trials read by their metric collectors (trial.metrics) in real
// child processes: regex over stdout and stderr, a file written just before exit.
#include <gtest/gtest.h>
#include <poll.h>

#include "test_support.h"
#include "worker/trial_runner.h"

namespace lorafarm::worker {
namespace {

using nlohmann::json;

TrialLaunch collected_trial(std::vector<std::string> command, const json& metrics) {
  TrialLaunch l;
  l.experiment = "c";
  l.trial = 1;
  l.command = std::move(command);
  l.objective = "val_loss";
  const auto spec = schema::parse_metrics_spec("test", metrics, "trial.metrics", [](const std::string& m) -> std::optional<bool> {
    return m == "val_loss" ? std::optional<bool>(false) : std::nullopt;
  });
  l.metrics = spec.to_json();  // what the coordinator's ASSIGN carries
  return l;
}

struct Run {
  json outcome;
  std::vector<json> reports;
};

// The worker's loop: pipes, watched files, then reaping.
Run run_to_end(TrialProcess& p) {
  Run run;
  const double give_up = monotonic_seconds() + 60;
  while (monotonic_seconds() < give_up) {
    std::vector<pollfd> fds;
    for (int fd : {p.stdout_fd(), p.stderr_fd()})
      if (fd >= 0) fds.push_back({fd, POLLIN, 0});
    ::poll(fds.data(), fds.size(), 20);
    for (const auto& f : fds)
      if (f.revents & (POLLIN | POLLHUP | POLLERR))
        for (auto& r : p.read_available(f.fd)) run.reports.push_back(r);
    for (auto& r : p.read_files(monotonic_seconds())) run.reports.push_back(r);
    if (p.poll(monotonic_seconds())) break;
  }
  for (auto& r : p.take_reports_at_exit()) run.reports.push_back(r);
  run.outcome = p.outcome();
  return run;
}

std::map<std::int64_t, double> curve(const std::vector<json>& reports, const std::string& metric) {
  std::map<std::int64_t, double> out;
  for (const auto& r : reports)
    if (r["metrics"].contains(metric)) out[r["step"].get<std::int64_t>()] = r["metrics"][metric].get<double>();
  return out;
}

TEST(TrialCollectors, AnMlxLmLogOnStdoutGivesProgressAndTheBestValidationLoss) {
  testing::ScratchDir dir;
  const auto log = testing::source_dir() / "tests/worker/fixtures/mlx_lm_lora.log";
  TrialProcess p(collected_trial({"cat", log.string()},
                                 {{"collectors", {{{"source", "stdout"}, {"regex", R"(^Iter (?<step>\d+): Val loss (?<val_loss>[0-9.]+))"}}}},
                                  {"final", {{"val_loss", "best"}}}}),
                 dir.path(), "/bin/false");
  const auto run = run_to_end(p);
  ASSERT_EQ(run.outcome["type"], "RESULT") << run.outcome.dump();
  EXPECT_EQ(run.outcome["body"]["metrics"]["val_loss"], 2.519);
  EXPECT_EQ(curve(run.reports, "val_loss"), (std::map<std::int64_t, double>{{1, 3.412}, {10, 2.873}, {20, 2.519}, {30, 2.604}}));
  for (const auto& r : run.reports) EXPECT_EQ(r["trial"], 1);
}

TEST(TrialCollectors, ProgressBarRedrawsOnStderrAreLinesOfTheirOwn) {
  // tqdm redraws its bar with \r; a postfix carries the loss.
  testing::ScratchDir dir;
  const std::string script =
      "import sys\n"
      "for i, loss in enumerate([2.5, 2.25, 2.0], 1):\n"
      "    sys.stderr.write(f'\\r 33%|###       | {i}/3 [00:01<00:02,  1.00it/s, loss={loss}]')\n"
      "    sys.stderr.flush()\n"
      "sys.stderr.write('\\n')\n";
  TrialProcess p(collected_trial({"python3", "-c", script},
                                 {{"collectors", {{{"source", "stderr"}, {"regex", R"(\| (?<step>\d+)/\d+ \[.*loss=(?<val_loss>[0-9.]+)\])"}}}}}),
                 dir.path(), "/bin/false");
  const auto run = run_to_end(p);
  ASSERT_EQ(run.outcome["type"], "RESULT") << run.outcome.dump();
  EXPECT_EQ(curve(run.reports, "val_loss"), (std::map<std::int64_t, double>{{1, 2.5}, {2, 2.25}, {3, 2.0}}));
  EXPECT_EQ(run.outcome["body"]["metrics"]["val_loss"], 2.0);
}

TEST(TrialCollectors, AFileWrittenJustBeforeExitIsReadAtExit) {
  testing::ScratchDir dir;
  const auto state = testing::source_dir() / "tests/worker/fixtures/trainer_state.json";
  // The trainer saves its state as it exits: no periodic read can have seen it.
  TrialProcess p(collected_trial({"/bin/sh", "-c", "mkdir -p out && cp '" + state.string() + "' out/trainer_state.json"},
                                 {{"collectors",
                                   {{{"source", "file"}, {"path", "out/trainer_state.json"}, {"records", "/log_history"},
                                     {"rename", {{"eval_loss", "val_loss"}}}}}},
                                  {"final", {{"val_loss", "best"}}}}),
                 dir.path(), "/bin/false");
  const double give_up = monotonic_seconds() + 30;
  while (!p.poll(monotonic_seconds())) {  // reaps without reading files in between
    ASSERT_LT(monotonic_seconds(), give_up);
    ::poll(nullptr, 0, 10);
  }
  const auto reports = p.take_reports_at_exit();
  ASSERT_EQ(p.outcome()["type"], "RESULT") << p.outcome().dump();
  EXPECT_EQ(p.outcome()["body"]["metrics"]["val_loss"], 2.4102);
  EXPECT_EQ(curve(reports, "val_loss"), (std::map<std::int64_t, double>{{20, 2.4102}, {40, 2.4315}}));
}

TEST(TrialCollectors, ATrialWhoseCollectorsMissTheObjectiveFailsAndSaysWhatWasSeen) {
  testing::ScratchDir dir;
  TrialProcess p(collected_trial({"/bin/sh", "-c", "echo 'Iter 10: Train loss 2.000'"},
                                 {{"collectors",
                                   {{{"source", "stdout"}, {"regex", R"(Train loss (?<train_loss>[0-9.]+))"}},
                                    {{"source", "stdout"}, {"regex", R"(Val loss (?<val_loss>[0-9.]+))"}}}}}),
                 dir.path(), "/bin/false");
  const auto run = run_to_end(p);
  ASSERT_EQ(run.outcome["type"], "FAILED");
  EXPECT_EQ(run.outcome["body"]["cause"], "bad_output");
  const auto message = run.outcome["body"]["message"].get<std::string>();
  EXPECT_NE(message.find("no value of \"val_loss\""), std::string::npos) << message;
  EXPECT_NE(message.find("metrics seen: train_loss"), std::string::npos) << message;
}

}  // namespace
}  // namespace lorafarm::worker
