// Child: the owned handle of a started process (see the header).
#include "process/child.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <utility>

namespace lorafarm::process {

bool ExitStatus::exited() const { return known && WIFEXITED(raw); }
int ExitStatus::code() const { return exited() ? WEXITSTATUS(raw) : -1; }
bool ExitStatus::signaled() const { return known && WIFSIGNALED(raw); }
int ExitStatus::signal() const { return signaled() ? WTERMSIG(raw) : 0; }
int ExitStatus::code_or_negative_signal() const { return signaled() ? -signal() : code(); }

std::string ExitStatus::describe() const {
  if (exited()) return "exited with status " + std::to_string(code());
  if (signaled()) {
    const char* name = ::strsignal(signal());
    return "killed by signal " + std::to_string(signal()) + " (" + (name ? name : "unknown") + ")";
  }
  return "ended with an unknown status";
}

Child::Child(const ChildSpec& spec) : pid_(spawn_child(spec)), own_group_(spec.own_group) {
  exit_fd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
}

Child::Child(Child&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      own_group_(other.own_group_),
      exit_fd_(std::exchange(other.exit_fd_, -1)),
      exit_(std::exchange(other.exit_, std::nullopt)) {}

Child& Child::operator=(Child&& other) noexcept {
  if (this == &other) return *this;
  release();
  pid_ = std::exchange(other.pid_, -1);
  own_group_ = other.own_group_;
  exit_fd_ = std::exchange(other.exit_fd_, -1);
  exit_ = std::exchange(other.exit_, std::nullopt);
  return *this;
}

Child::~Child() { release(); }

void Child::release() {
  if (running()) kill();
  if (exit_fd_ >= 0) ::close(exit_fd_);
  exit_fd_ = -1;
  pid_ = -1;
  exit_.reset();
}

void Child::signal(int sig) const {
  if (running()) ::kill(pid_, sig);
}

void Child::signal_group(int sig) const {
  if (pid_ <= 0) return;
  if (own_group_) {
    ::kill(-pid_, sig);
  } else {
    signal(sig);
  }
}

std::optional<ExitStatus> Child::reap(int options) {
  if (pid_ <= 0 || exit_) return exit_;
  int status = 0;
  rusage usage{};
  pid_t done;
  do {
    done = ::wait4(pid_, &status, options, &usage);
  } while (done < 0 && errno == EINTR);
  if (done == pid_) {
    exit_ = ExitStatus{true, status, static_cast<double>(usage.ru_maxrss) / 1024.0};
  } else if (done < 0) {
    exit_ = ExitStatus{false, 0, 0.0};  // ECHILD: reaped elsewhere; nothing left to wait for
  }
  return exit_;
}

std::optional<ExitStatus> Child::poll() { return reap(WNOHANG); }

ExitStatus Child::wait() {
  if (pid_ <= 0) return ExitStatus{false, 0, 0.0};
  return *reap(0);
}

std::optional<ExitStatus> Child::wait_until(std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    if (auto status = poll()) return status;
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

ExitStatus Child::kill() {
  if (running()) signal_group(SIGKILL);
  return wait();
}

}  // namespace lorafarm::process
