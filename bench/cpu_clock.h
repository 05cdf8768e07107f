// CPU seconds this process has used (all threads): on a machine shared with
// other jobs, tokens per CPU-second compare kernels where wall time cannot.
#pragma once

#include <sys/resource.h>

namespace lorafarm::bench {

inline double cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

}  // namespace lorafarm::bench
