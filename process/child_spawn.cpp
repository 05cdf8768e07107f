#include "process/child_spawn.h"

#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace lorafarm::worker {
namespace {

// Everything the child touches, prepared by the parent: between clone and
// exec the child shares the parent's memory, so it only reads this and makes
// system calls (no allocation, no locks).
struct ChildArgs {
  std::vector<char*> argv;
  std::vector<char*> env;
  const char* dir = nullptr;
  int fds[3] = {-1, -1, -1};
  pid_t parent = 0;
  const sigset_t* parent_mask = nullptr;
};

void say(const char* text) { [[maybe_unused]] auto ignored = ::write(2, text, std::strlen(text)); }

int child_main(void* raw) {
  const auto& args = *static_cast<const ChildArgs*>(raw);
  // Signals are blocked (the parent blocked them before clone): reset every
  // handler to the default before unblocking, so no parent handler ever runs
  // on the shared memory.
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    struct sigaction action {};
    action.sa_handler = SIG_DFL;
    ::sigaction(sig, &action, nullptr);
  }
  ::setpgid(0, 0);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != args.parent) ::_exit(127);  // the worker died before prctl
  for (int target = 0; target < 3; ++target)
    if (::dup2(args.fds[target], target) < 0) ::_exit(126);
  ::sigprocmask(SIG_SETMASK, args.parent_mask, nullptr);
  if (::chdir(args.dir) != 0) {
    say("lorafarm worker: cannot enter the trial folder\n");
    ::_exit(126);
  }
  ::execve(args.argv[0], args.argv.data(), args.env.data());
  ::execvpe(args.argv[0], args.argv.data(), args.env.data());  // a bare name: search PATH
  say("lorafarm worker: cannot execute the trial command: ");
  say(args.argv[0]);
  say("\n");
  ::_exit(127);
}

}  // namespace

pid_t spawn_child(const ChildSpec& spec) {
  if (spec.argv.empty()) throw std::runtime_error("spawn: empty command");
  ChildArgs args;
  for (const auto& a : spec.argv) args.argv.push_back(const_cast<char*>(a.c_str()));
  args.argv.push_back(nullptr);
  for (const auto& e : spec.env) args.env.push_back(const_cast<char*>(e.c_str()));
  args.env.push_back(nullptr);
  args.dir = spec.dir.c_str();
  args.fds[0] = spec.stdin_fd;
  args.fds[1] = spec.stdout_fd;
  args.fds[2] = spec.stderr_fd;
  args.parent = ::getpid();

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
  if (pid < 0) throw std::runtime_error(std::string("cannot start the trial process: ") + std::strerror(error));
  return pid;
}

}  // namespace lorafarm::worker
