// Starting a trial's child process cheaply. fork() copies the worker's page
// tables (and then takes copy-on-write faults in a process that runs ZeroMQ
// threads); a vfork-style clone shares the memory while the child sets itself
// up and execs, which makes launching a short trial several times cheaper.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace lorafarm::worker {

struct ChildSpec {
  std::vector<std::string> argv;  // argv[0] is a path, or a name looked up on PATH
  std::vector<std::string> env;   // "NAME=value"
  std::string dir;                // working directory
  int stdin_fd = -1;              // become the child's 0, 1, 2
  int stdout_fd = -1;
  int stderr_fd = -1;
};

// The child runs in its own process group, with default signal handling,
// and is killed when the calling thread's process dies (PR_SET_PDEATHSIG).
// If it cannot chdir or exec it writes one line to its stderr and exits 126
// or 127. Throws std::runtime_error when no process can be created.
pid_t spawn_child(const ChildSpec& spec);

}  // namespace lorafarm::worker
