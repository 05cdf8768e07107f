// The one way lorafarm starts a child process: exit codes and signals decoded,
// exec failure as 127 with a message, a process group killed as a whole (also
// on destruction and when the starting thread ends), a non-blocking poll, a
// wait that can be repeated, and output captured with a timeout.
#include "process/child.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "process/run_captured.h"
#include "test_support.h"

namespace lorafarm::process {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

ChildSpec shell(const std::string& script) {
  ChildSpec spec;
  spec.argv = {"/bin/sh", "-c", script};
  return spec;
}

// Alive and not a zombie (a zombie's parent, maybe a container's init, may never reap it).
bool alive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(stat, text)) return false;
  const auto state = text.substr(text.rfind(')') + 2, 1);
  return state != "Z" && state != "X";
}

bool gone_within(pid_t pid, std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (alive(pid)) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

// Waits for the shell of `spec` to write its background sleep's pid to `file`.
pid_t read_pid(const std::filesystem::path& file) {
  for (int i = 0; i < 500; ++i) {
    std::ifstream in(file);
    pid_t pid = 0;
    if (in >> pid && pid > 0) return pid;
    std::this_thread::sleep_for(10ms);
  }
  return -1;
}

// A shell that starts a grandchild (sleep 30) in its group, records its pid, and waits.
ChildSpec shell_with_grandchild(const std::filesystem::path& pid_file) {
  return shell("sleep 30 & echo $! > " + pid_file.string() + ".tmp; mv " + pid_file.string() + ".tmp " + pid_file.string() + "; wait");
}

TEST(Child, DecodesAnExitCode) {
  Child child(shell("exit 3"));
  const ExitStatus status = child.wait();
  EXPECT_TRUE(status.exited());
  EXPECT_FALSE(status.signaled());
  EXPECT_EQ(status.code(), 3);
  EXPECT_EQ(status.code_or_negative_signal(), 3);
  EXPECT_EQ(status.describe(), "exited with status 3");
  EXPECT_FALSE(child.running());
}

TEST(Child, DecodesATerminatingSignal) {
  Child child(shell("kill -SEGV $$"));
  const ExitStatus status = child.wait();
  EXPECT_TRUE(status.signaled());
  EXPECT_EQ(status.signal(), SIGSEGV);
  EXPECT_EQ(status.code(), -1);
  EXPECT_EQ(status.code_or_negative_signal(), -SIGSEGV);
  EXPECT_THAT(status.describe(), HasSubstr("killed by signal 11"));
}

TEST(Child, AnExecFailureExits127AndSaysWhatCouldNotStart) {
  testing::ScratchDir dir;
  const int err = ::open((dir / "err").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(err, 0);
  ChildSpec spec;
  spec.argv = {"/nonexistent/trainer", "--flag"};
  spec.stderr_fd = err;
  spec.exec_failure = "lorafarm test: cannot execute";
  Child child(spec);
  ::close(err);
  EXPECT_EQ(child.wait().code(), 127);
  EXPECT_EQ(testing::read_file(dir / "err"), "lorafarm test: cannot execute: /nonexistent/trainer\n");
}

TEST(Child, AMissingWorkingFolderExits126) {
  ChildSpec spec = shell("exit 0");
  spec.dir = "/nonexistent/folder";
  EXPECT_EQ(Child(spec).wait().code(), 126);
}

TEST(Child, RunsInItsFolderWithItsEnvironmentAndRedirectedOutput) {
  testing::ScratchDir dir;
  const int out = ::open((dir / "out").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(out, 0);
  ChildSpec spec = shell("echo \"$GREETING\"; pwd; echo \"${HOME:-no home}\"; read line || echo eof");
  spec.env = std::vector<std::string>{"GREETING=hello there"};
  spec.dir = dir.path().string();
  spec.stdout_fd = out;
  Child child(spec);
  ::close(out);
  EXPECT_EQ(child.wait().code(), 0);
  const auto canonical = std::filesystem::canonical(dir.path()).string();
  EXPECT_EQ(testing::read_file(dir / "out"), "hello there\n" + canonical + "\nno home\neof\n");  // only the given env; stdin /dev/null
}

TEST(Child, RunsInItsOwnProcessGroupUnlessAskedNot) {
  Child own(shell("exec sleep 30"));
  EXPECT_EQ(::getpgid(own.pid()), own.pid());
  // exec: killing the child when it is dropped leaves no sleep holding our output open.
  ChildSpec shared = shell("exec sleep 30");
  shared.own_group = false;
  Child same(shared);
  EXPECT_EQ(::getpgid(same.pid()), ::getpgrp());
}

TEST(Child, PollDoesNotBlockAndWaitCanBeRepeatedAfterTheExit) {
  // The child waits for a file the test writes, so "still running" does not
  // depend on how fast a loaded machine is.
  testing::ScratchDir dir;
  const auto gate = (dir / "gate").string();
  Child child(shell("while [ ! -e " + gate + " ]; do sleep 0.02; done; exit 4"));
  EXPECT_FALSE(child.poll());
  EXPECT_TRUE(child.running());
  EXPECT_FALSE(child.wait_until(std::chrono::steady_clock::now() + 50ms));
  testing::write_file(gate, "");
  EXPECT_EQ(child.wait().code(), 4);
  // Reaped once; later calls return the same status.
  EXPECT_EQ(child.wait().code(), 4);
  ASSERT_TRUE(child.poll());
  EXPECT_EQ(child.poll()->code(), 4);
  EXPECT_EQ(child.kill().code(), 4);
}

TEST(Child, KillReachesTheWholeProcessGroup) {
  testing::ScratchDir dir;
  Child child(shell_with_grandchild(dir / "pid"));
  const pid_t grandchild = read_pid(dir / "pid");
  ASSERT_GT(grandchild, 0);
  ASSERT_TRUE(alive(grandchild));
  EXPECT_EQ(child.kill().signal(), SIGKILL);
  EXPECT_TRUE(gone_within(grandchild, 2000ms));
}

TEST(Child, DestroyingARunningChildKillsItsGroupAndReapsIt) {
  testing::ScratchDir dir;
  pid_t shell_pid = -1, grandchild = -1;
  {
    Child child(shell_with_grandchild(dir / "pid"));
    shell_pid = child.pid();
    grandchild = read_pid(dir / "pid");
    ASSERT_GT(grandchild, 0);
  }
  EXPECT_FALSE(alive(shell_pid));
  EXPECT_EQ(::waitpid(shell_pid, nullptr, WNOHANG), -1);  // already reaped: no zombie left
  EXPECT_TRUE(gone_within(grandchild, 2000ms));
}

TEST(Child, DiesWithTheThreadThatStartedIt) {
  Child child;
  std::thread([&] { child = Child(shell("exec sleep 30")); }).join();
  const auto status = child.wait_until(std::chrono::steady_clock::now() + 5s);
  ASSERT_TRUE(status) << "the child outlived its starting thread";
  EXPECT_EQ(status->signal(), SIGKILL);

  ChildSpec survivor = shell("exec sleep 30");
  survivor.die_with_parent = false;
  std::thread([&] { child = Child(survivor); }).join();
  EXPECT_FALSE(child.wait_until(std::chrono::steady_clock::now() + 300ms));
}

TEST(RunCaptured, KeepsBothStreamsAndTheExitCode) {
  const auto run = run_captured({"/bin/sh", "-c", "echo out; echo err >&2; exit 2"}, 10.0);
  EXPECT_FALSE(run.timed_out);
  EXPECT_EQ(run.status.code(), 2);
  EXPECT_EQ(run.out, "out\n");
  EXPECT_EQ(run.err, "err\n");
}

TEST(RunCaptured, KillsTheGroupAfterTheTimeout) {
  testing::ScratchDir dir;
  const auto started = std::chrono::steady_clock::now();
  const auto run = run_captured({"/bin/sh", "-c", "sleep 30 & echo $! > " + (dir / "pid").string() + "; wait"}, 0.5);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
  EXPECT_TRUE(run.timed_out);
  EXPECT_EQ(run.status.signal(), SIGKILL);
  const pid_t grandchild = read_pid(dir / "pid");
  ASSERT_GT(grandchild, 0);
  EXPECT_TRUE(gone_within(grandchild, 2000ms));
}

TEST(RunCaptured, DropsOutputBeyondTheLimit) {
  const auto run = run_captured({"/bin/sh", "-c", "i=0; while [ $i -lt 2000 ]; do echo 0123456789; i=$((i+1)); done"}, 10.0, 100);
  EXPECT_EQ(run.status.code(), 0);
  EXPECT_GE(run.out.size(), 100u);
  EXPECT_LT(run.out.size(), 100u + 4096u);  // at most one read past the limit
}

}  // namespace
}  // namespace lorafarm::process
