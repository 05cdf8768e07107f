// Helpers the training benchmarks share: the process's CPU time (on a machine
// shared with other jobs, tokens per CPU-second compare kernels where wall
// time cannot) and a batch of random tokens.
#pragma once

#include <sys/resource.h>

#include <cstdint>
#include <random>

#include "engine/train_batch.h"

namespace lorafarm::bench {

inline double cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

// `batch` rows of `length` random inputs and targets below `vocab`, every target weighted 1.
inline engine::TrainBatch random_batch(int vocab, int batch, int length, uint64_t seed) {
  std::mt19937_64 rng(seed);
  engine::TrainBatch b;
  b.batch = batch;
  b.length = length;
  for (int i = 0; i < batch * length; ++i) {
    b.inputs.push_back(static_cast<engine::TokenId>(rng() % static_cast<uint64_t>(vocab)));
    b.targets.push_back(static_cast<engine::TokenId>(rng() % static_cast<uint64_t>(vocab)));
  }
  b.weights.assign(b.inputs.size(), 1.0f);
  return b;
}

}  // namespace lorafarm::bench
