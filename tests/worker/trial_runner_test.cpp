// Trials in real child processes: results, progress, and every way a trial
// can end badly (signal, timeout, non-zero exit, garbage, memory).
#include "worker/trial_runner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>

#include "schema/sha256.h"
#include "test_support.h"
#include "worker/command_template.h"

namespace lorafarm::worker {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;

struct Run {
  json outcome;
  std::vector<json> reports;
};

Run run_to_end(TrialProcess& p, double stop_after_report = -1) {
  Run run;
  while (true) {
    std::vector<pollfd> fds;
    for (int fd : {p.stdout_fd(), p.stderr_fd()})
      if (fd >= 0) fds.push_back({fd, POLLIN, 0});
    ::poll(fds.data(), fds.size(), 20);
    for (const auto& f : fds) {
      if (!(f.revents & (POLLIN | POLLHUP | POLLERR))) continue;
      for (auto& r : p.read_available(f.fd)) {
        run.reports.push_back(r);
        if (stop_after_report >= 0 && static_cast<double>(run.reports.size()) > stop_after_report) p.kill("stopped", monotonic_seconds());
      }
    }
    if (p.poll(monotonic_seconds())) break;
  }
  run.outcome = p.outcome();
  return run;
}

TrialLaunch python_trial(const std::string& script, const json& params = {{"lr", 0.5}}) {
  TrialLaunch l;
  l.experiment = "t";
  l.trial = 3;
  l.attempt = 1;
  l.seed = 99;
  l.params = params;
  l.command = {"python3", "-c", script};
  l.objective = "val_loss";
  return l;
}

TEST(CommandTemplate, SubstitutesOncePerPlaceholder) {
  const std::map<std::string, std::string> v{{"lr", "0.001"}, {"name", "{lr}"}, {"q", "it's"}};
  EXPECT_EQ(substitute("--lr={lr} {name} {unknown}", v), "--lr=0.001 {lr} {unknown}");
  EXPECT_EQ(substitute_shell("echo {q}", v), "echo 'it'\\''s'");
  EXPECT_EQ(param_env_name("learning-rate"), "LORAFARM_PARAM_LEARNING_RATE");
  EXPECT_EQ(placeholder_text(json(3)), "3");
  EXPECT_EQ(placeholder_text(json("lora")), "lora");
}

// The worker wakes on the child's exit (pidfd) and may reap it before it has
// read the pipe: the reports still in the pipe must come out of the reaping.
TEST(TrialProcess, ReportsStillInThePipeAtExitAreKeptForTheCaller) {
  testing::ScratchDir dir;
  TrialProcess p(python_trial(R"(
import json
for step in range(1, 51):
    print(json.dumps({"step": step, "val_loss": 1.0 / step}))
print(json.dumps({"final": True, "val_loss": 0.02}))
)"),
                 dir.path(), "/bin/false");
  const double give_up = monotonic_seconds() + 30;
  while (!p.poll(monotonic_seconds())) {  // never reads the pipe itself
    ASSERT_LT(monotonic_seconds(), give_up) << "the trial did not exit";
    ::poll(nullptr, 0, 10);
  }
  const auto reports = p.take_reports_at_exit();
  ASSERT_EQ(reports.size(), 50u);
  EXPECT_EQ(reports.front()["step"], 1);
  EXPECT_EQ(reports.back()["step"], 50);
  EXPECT_EQ(p.outcome()["type"], "RESULT");
  EXPECT_TRUE(p.take_reports_at_exit().empty()) << "handed out once";
}

TEST(TrialProcess, ReportsProgressAndTheFinalResultWithPeakRss) {
  testing::ScratchDir dir;
  TrialProcess p(python_trial(R"(
import json, sys, os
params = json.load(sys.stdin)
assert os.environ["LORAFARM_PARAM_LR"] == "0.5"
assert os.environ["LORAFARM_SEED"] == "99"
for step in (1, 2, 3):
    print(json.dumps({"step": step, "val_loss": params["lr"] * step}), flush=True)
print("a log line that is not JSON")
blob = bytearray(64 * 1024 * 1024)  # touch 64 MB
for i in range(0, len(blob), 4096): blob[i] = 1
print(json.dumps({"final": True, "val_loss": 0.25, "val_ppl": 1.28, "note": "text is dropped"}))
)"),
                 dir.path(), "/bin/false");
  const auto run = run_to_end(p);
  ASSERT_EQ(run.outcome["type"], "RESULT") << run.outcome.dump();
  const auto& body = run.outcome["body"];
  EXPECT_EQ(body["metrics"]["val_loss"], 0.25);
  EXPECT_EQ(body["metrics"]["val_ppl"], 1.28);
  EXPECT_FALSE(body["metrics"].contains("note"));
  EXPECT_GT(body["peak_rss_mb"].get<double>(), 64.0);
  ASSERT_EQ(run.reports.size(), 3u);
  EXPECT_EQ(run.reports[2]["step"], 3);
  EXPECT_EQ(run.reports[2]["metrics"]["val_loss"], 1.5);
}

TEST(TrialProcess, SubstitutesParametersIntoArgvAndCollectsArtifacts) {
  testing::ScratchDir dir;
  TrialLaunch l;
  l.experiment = "t";
  l.trial = 0;
  l.params = {{"lr", 0.001}, {"method", "lora"}};
  l.command = {"/bin/sh", "-c", "echo x > \"$LORAFARM_ARTIFACT_DIR/a.bin\"; echo '{\"final\": true, \"val_loss\": '$1'}'", "sh", "{lr}"};
  l.objective = "val_loss";
  TrialProcess p(l, dir.path(), "/bin/false");
  const auto run = run_to_end(p);
  ASSERT_EQ(run.outcome["type"], "RESULT") << run.outcome.dump();
  EXPECT_EQ(run.outcome["body"]["metrics"]["val_loss"], 0.001);
  const auto& artifacts = run.outcome["body"]["artifacts"];
  ASSERT_EQ(artifacts.size(), 1u);
  EXPECT_EQ(artifacts[0]["sha256"], schema::sha256_hex("x\n"));
  EXPECT_EQ(artifacts[0]["bytes"], 2);
}

TEST(TrialProcess, RecordsASegfaultAsASignal) {
  testing::ScratchDir dir;
  TrialProcess p(python_trial("import os, signal, sys\nsys.stderr.write('about to crash\\n')\nos.kill(os.getpid(), signal.SIGSEGV)"), dir.path(),
                 "/bin/false");
  const auto run = run_to_end(p);
  ASSERT_EQ(run.outcome["type"], "FAILED");
  EXPECT_EQ(run.outcome["body"]["cause"], "signal");
  EXPECT_EQ(run.outcome["body"]["signal"], 11);
  EXPECT_THAT(run.outcome["body"]["stderr_tail"].get<std::string>(), HasSubstr("about to crash"));
}

TEST(TrialProcess, KillsATrialThatExceedsItsTimeout) {
  testing::ScratchDir dir;
  auto l = python_trial("import time\ntime.sleep(30)");
  l.timeout_seconds = 0.3;
  const double start = monotonic_seconds();
  TrialProcess p(l, dir.path(), "/bin/false");
  const auto run = run_to_end(p);
  EXPECT_LT(monotonic_seconds() - start, 5.0);
  EXPECT_EQ(run.outcome["body"]["cause"], "timeout");
  EXPECT_THAT(run.outcome["body"]["message"].get<std::string>(), HasSubstr("0.3"));
}

TEST(TrialProcess, RecordsANonZeroExitWithItsStderr) {
  testing::ScratchDir dir;
  TrialProcess p(python_trial("import sys\nprint('oops: out of cheese', file=sys.stderr)\nsys.exit(3)"), dir.path(), "/bin/false");
  const auto run = run_to_end(p);
  EXPECT_EQ(run.outcome["body"]["cause"], "exit");
  EXPECT_EQ(run.outcome["body"]["exit_code"], 3);
  EXPECT_THAT(run.outcome["body"]["stderr_tail"].get<std::string>(), HasSubstr("out of cheese"));
}

TEST(TrialProcess, RecordsGarbageOutputAsBadOutput) {
  testing::ScratchDir dir;
  TrialProcess p(python_trial("print('\\x00\\x01 garbage {{{')\nprint('[1, 2]')"), dir.path(), "/bin/false");
  const auto run = run_to_end(p);
  EXPECT_EQ(run.outcome["body"]["cause"], "bad_output");
  EXPECT_THAT(run.outcome["body"]["message"].get<std::string>(), HasSubstr("2 line(s) were not JSON objects"));
}

TEST(TrialProcess, RejectsAFinalResultWithoutTheObjective) {
  testing::ScratchDir dir;
  TrialProcess p(python_trial("print('{\"final\": true, \"loss\": 1}')"), dir.path(), "/bin/false");
  const auto run = run_to_end(p);
  EXPECT_EQ(run.outcome["body"]["cause"], "bad_output");
  EXPECT_THAT(run.outcome["body"]["message"].get<std::string>(), HasSubstr("val_loss"));
}

TEST(TrialProcess, StopsATrialWhenAskedAndSaysSo) {
  testing::ScratchDir dir;
  TrialProcess p(python_trial("import json, time\nfor s in range(1000):\n  print(json.dumps({'step': s, 'val_loss': 1.0}), flush=True)\n  time.sleep(0.01)"),
                 dir.path(), "/bin/false");
  const auto run = run_to_end(p, 2);
  EXPECT_EQ(run.outcome["body"]["cause"], "stopped");
  EXPECT_LT(run.reports.size(), 100u);
}

TEST(TrialProcess, KillsATrialOverItsMemoryLimit) {
  testing::ScratchDir dir;
  auto l = python_trial("import time\nx = bytearray(300 * 1024 * 1024)\nfor i in range(0, len(x), 4096): x[i] = 1\ntime.sleep(30)");
  l.memory_limit_mb = 100;
  TrialProcess p(l, dir.path(), "/bin/false");
  const auto run = run_to_end(p);
  EXPECT_EQ(run.outcome["body"]["cause"], "memory");
}

TEST(TrialProcess, ReportsACommandThatCannotStart) {
  testing::ScratchDir dir;
  TrialLaunch l;
  l.experiment = "t";
  l.command = {"/nonexistent/trainer"};
  TrialProcess p(l, dir.path(), "/bin/false");
  const auto run = run_to_end(p);
  EXPECT_EQ(run.outcome["body"]["cause"], "exit");
  EXPECT_EQ(run.outcome["body"]["exit_code"], 127);
  EXPECT_THAT(run.outcome["body"]["stderr_tail"].get<std::string>(), HasSubstr("cannot execute"));
}

}  // namespace
}  // namespace lorafarm::worker
