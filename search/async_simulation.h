// Simulated asynchronous workers for benchmarks: N workers run trials of a
// given duration; whenever one frees, the sampler is asked for one trial with
// every unfinished trial in the history as Running — the way the coordinator
// asks (search/sampler.h) — so a model-based sampler must propose while N−1
// trials are pending.
#pragma once

#include <functional>
#include <vector>

#include "search/sampler.h"

namespace lorafarm::search {

struct AsyncSimulationOptions {
  int workers = 1;
  int trials = 1;  // how many trials are started in total
};

struct AsyncSimulation {
  std::vector<Observation> history;   // in trial-number order, all completed at the end
  std::vector<int> completion_order;  // trial numbers in the order they finished
  // Per trial (by number): the trials still running when it was proposed.
  std::vector<std::vector<int>> running_at_proposal;
  double suggest_seconds = 0.0;
  // The best value among the first k finished trials, k = 1..trials.
  std::vector<double> best_after_completions() const;
};

// Runs the simulation. `objective` scores a configuration (minimised);
// `duration` gives a trial's simulated run time (trial number, configuration),
// e.g. constant for equal costs. Ties in finish time go to the lower trial
// number. Throws std::runtime_error if the sampler proposes nothing.
AsyncSimulation simulate_async(Sampler& sampler, const AsyncSimulationOptions& options,
                               const std::function<double(const Params&)>& objective,
                               const std::function<double(int, const Params&)>& duration);

}  // namespace lorafarm::search
