// An owned child process: started from a ChildSpec, signalled alone or with
// its process group, polled without blocking or waited for, its exit decoded.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>

#include "process/child_spawn.h"

namespace lorafarm::process {

// How a child ended, from wait4.
struct ExitStatus {
  bool known = true;         // false: the child was reaped elsewhere (no status)
  int raw = 0;               // the wait status
  double peak_rss_mb = 0.0;  // ru_maxrss of the child and the descendants it waited for

  bool exited() const;
  int code() const;    // the exit code; -1 unless exited()
  bool signaled() const;
  int signal() const;  // the terminating signal; 0 unless signaled()
  int code_or_negative_signal() const;  // 3 for exit(3), -9 for SIGKILL
  // "exited with status 3", "killed by signal 9 (Killed)".
  std::string describe() const;
};

// Kill-on-destroy policy: destroying (or assigning over) a Child whose
// process has not been reaped sends SIGKILL to it, to its whole group when it
// leads one, and reaps it. A Child never leaves a zombie or an orphan behind;
// a caller that wants a graceful stop signals and waits first.
class Child {
 public:
  Child() = default;
  // Starts the process (see spawn_child); throws std::runtime_error when it cannot.
  explicit Child(const ChildSpec& spec);
  Child(Child&& other) noexcept;
  Child& operator=(Child&& other) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child();

  pid_t pid() const { return pid_; }
  bool started() const { return pid_ > 0; }
  // Started and not yet reaped.
  bool running() const { return pid_ > 0 && !exit_; }
  const std::optional<ExitStatus>& exit_status() const { return exit_; }

  // `sig` to the process, while it is not reaped.
  void signal(int sig) const;
  // `sig` to its process group (to the process alone when it has none). Also
  // after the leader was reaped: what it started may still run.
  void signal_group(int sig) const;

  // The exit status once the process has ended (reaps it); nullopt while it runs.
  std::optional<ExitStatus> poll();
  ExitStatus wait();
  // Polls until `deadline`; nullopt if it still runs then.
  std::optional<ExitStatus> wait_until(std::chrono::steady_clock::time_point deadline);
  // SIGKILL to the group (or process), then waits.
  ExitStatus kill();

  // Readable once the process has exited (a pidfd), so an event loop can wake
  // for the exit instead of polling; -1 where the kernel has none.
  int exit_fd() const { return exit_fd_; }

 private:
  std::optional<ExitStatus> reap(int options);
  void release();

  pid_t pid_ = -1;
  bool own_group_ = false;
  int exit_fd_ = -1;
  std::optional<ExitStatus> exit_;
};

}  // namespace lorafarm::process
