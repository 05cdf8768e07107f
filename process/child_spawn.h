// Starting a child process cheaply. fork() copies the caller's page tables
// (and then takes copy-on-write faults in a process that runs ZeroMQ
// threads); a vfork-style clone shares the memory while the child sets itself
// up and execs, which makes launching a short trial several times cheaper.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace lorafarm::process {

struct ChildSpec {
  std::vector<std::string> argv;                // argv[0] is a path, or a name looked up on PATH
  std::optional<std::vector<std::string>> env;  // "NAME=value"; nullopt: the caller's environment
  std::string dir;                              // working directory; empty: the caller's
  int stdin_fd = -1;                            // -1: /dev/null
  int stdout_fd = -1;                           // -1: the caller's stdout
  int stderr_fd = -1;                           // -1: the caller's stderr
  // Its own process group: a terminal's Ctrl-C reaches only the caller, and
  // the child and everything it starts can be killed together.
  bool own_group = true;
  // SIGKILL when the calling *thread* ends (PR_SET_PDEATHSIG); off for
  // children meant to outlive a crash of the caller.
  bool die_with_parent = true;
  // What the child writes to its stderr when it cannot exec, before ": argv[0]".
  std::string exec_failure = "cannot execute";
};

// Starts the child with default signal handling and the caller's signal mask.
// If it cannot chdir it exits 126, if it cannot exec it writes
// "<exec_failure>: <argv[0]>" to its stderr and exits 127. Throws
// std::runtime_error when no process can be created.
pid_t spawn_child(const ChildSpec& spec);

}  // namespace lorafarm::process
