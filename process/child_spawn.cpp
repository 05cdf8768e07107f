// spawn_child: a vfork-style clone that resets signals, redirects, and execs.
#include "process/child_spawn.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <memory>
#include <stdexcept>

extern char** environ;

namespace lorafarm::process {
namespace {

// Everything the child touches, prepared by the parent: between clone and
// exec the child shares the parent's memory, so it only reads this and makes
// system calls (no allocation, no locks).
struct ChildArgs {
  std::vector<char*> argv;
  std::vector<char*> env_storage;
  char** env = nullptr;
  const char* dir = nullptr;  // nullptr: stay
  int fds[3] = {-1, -1, -1};  // -1: keep the inherited one
  bool own_group = true;
  bool die_with_parent = true;
  const char* exec_failure = nullptr;
  pid_t parent = 0;
  const sigset_t* parent_mask = nullptr;
};

void say(const char* text) { [[maybe_unused]] auto ignored = ::write(2, text, std::strlen(text)); }

void reset_signal_handlers() {
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    struct sigaction action {};
    action.sa_handler = SIG_DFL;
    ::sigaction(sig, &action, nullptr);
  }
}

int child_main(void* raw) {
  const auto& args = *static_cast<const ChildArgs*>(raw);
  // Signals are blocked (the parent blocked them before clone): reset every
  // handler to the default before unblocking, so no parent handler ever runs
  // on the shared memory.
  reset_signal_handlers();
  if (args.own_group) ::setpgid(0, 0);
  if (args.die_with_parent) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != args.parent) ::_exit(127);  // the parent died before prctl
  }
  for (int target = 0; target < 3; ++target)
    if (args.fds[target] >= 0 && ::dup2(args.fds[target], target) < 0) ::_exit(126);
  ::sigprocmask(SIG_SETMASK, args.parent_mask, nullptr);
  if (args.dir && ::chdir(args.dir) != 0) {
    say("cannot enter the working folder ");
    say(args.dir);
    say("\n");
    ::_exit(126);
  }
  ::execve(args.argv[0], args.argv.data(), args.env);
  ::execvpe(args.argv[0], args.argv.data(), args.env);  // a bare name: search PATH
  say(args.exec_failure);
  say(": ");
  say(args.argv[0]);
  say("\n");
  ::_exit(127);
}

ChildArgs child_args(const ChildSpec& spec) {
  ChildArgs args;
  for (const auto& a : spec.argv) args.argv.push_back(const_cast<char*>(a.c_str()));
  args.argv.push_back(nullptr);
  if (spec.env) {
    for (const auto& e : *spec.env) args.env_storage.push_back(const_cast<char*>(e.c_str()));
    args.env_storage.push_back(nullptr);
    args.env = args.env_storage.data();
  } else {
    args.env = environ;
  }
  args.dir = spec.dir.empty() ? nullptr : spec.dir.c_str();
  args.fds[1] = spec.stdout_fd;
  args.fds[2] = spec.stderr_fd;
  args.own_group = spec.own_group;
  args.die_with_parent = spec.die_with_parent;
  args.exec_failure = spec.exec_failure.c_str();
  args.parent = ::getpid();
  return args;
}

}  // namespace

pid_t spawn_child(const ChildSpec& spec) {
  if (spec.argv.empty()) throw std::runtime_error("spawn: empty command");
  ChildArgs args = child_args(spec);
  int null_input = -1;
  if (spec.stdin_fd < 0) {
    null_input = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_input < 0) throw std::runtime_error(std::string("cannot open /dev/null: ") + std::strerror(errno));
  }
  args.fds[0] = spec.stdin_fd >= 0 ? spec.stdin_fd : null_input;

  constexpr std::size_t kStackBytes = 64 * 1024;
  const auto stack = std::make_unique<char[]>(kStackBytes);
  sigset_t all, previous;
  ::sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &previous);
  args.parent_mask = &previous;
  // CLONE_VFORK: this thread waits until the child has exec'd or exited, so
  // `args` and the stack outlive the child's use of them.
  const pid_t pid = ::clone(child_main, stack.get() + kStackBytes, CLONE_VM | CLONE_VFORK | SIGCHLD, &args);
  const int error = errno;
  ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  if (null_input >= 0) ::close(null_input);
  if (pid < 0) throw std::runtime_error("cannot start " + spec.argv[0] + ": " + std::strerror(error));
  if (spec.own_group) ::setpgid(pid, pid);  // also from here: a signal to the group right away reaches it
  return pid;
}

}  // namespace lorafarm::process
