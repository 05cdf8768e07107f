// Running a short command to its end and keeping what it printed: the
// dashboard's `lorafarm generate`.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "process/child.h"

namespace lorafarm::process {

struct CapturedRun {
  ExitStatus status;
  bool timed_out = false;  // killed (with its group) after the timeout
  std::string out;
  std::string err;
};

// Runs argv (argv[0] a path or a name on PATH) with stdin from /dev/null, in
// its own process group, and kills the group after `timeout_seconds`. Output
// beyond `max_output` bytes per stream is dropped. Throws std::runtime_error
// when it cannot start.
CapturedRun run_captured(const std::vector<std::string>& argv, double timeout_seconds, std::size_t max_output = 1 << 20);

}  // namespace lorafarm::process
