// The interface every sampler implements (random, Sobol, grid, GP Bayesian
// optimisation, ...), and what the coordinator tells it about trials.
//
// Contract, as the coordinator uses it:
//  * suggest(n, history) is called whenever workers have free slots. `history`
//    holds every trial created so far, in trial-number order (history[i] is trial
//    i), including RUNNING ones (objective not yet known; asynchronous samplers
//    should account for them, e.g. with a constant liar). It returns up to n new
//    configurations; fewer (or none) means the sampler is exhausted (e.g. grid).
//    The coordinator creates trial history.size(), history.size()+1, ... from
//    the result, in order.
//  * tell(observation) is called once per trial when it reaches a final state
//    (and again for every finished trial when a sweep is resumed, before the
//    first suggest). Samplers that rebuild from `history` may ignore it.
//  * Samplers must be deterministic given (space, seed, history), so a resumed
//    sweep continues the same sequence.
//  * Objectives are always to be MINIMISED: the coordinator negates metrics the
//    spec says to maximise.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "search/search_space.h"

namespace lorafarm::search {

enum class ObservationStatus { Running, Completed, Failed, Infeasible, Pruned };

struct IntermediateValue {
  std::int64_t step = 0;
  double value = 0.0;  // the objective metric at that step, minimised
};

struct Observation {
  std::int64_t trial_number = 0;
  Params params;  // as suggested (inactive parameters absent)
  ObservationStatus status = ObservationStatus::Running;
  // Completed (and Pruned/Infeasible when known): one value per objective,
  // minimised. Empty otherwise.
  std::vector<double> objectives;
  // Constraint values, feasible when <= 0 (e.g. peak_rss_mb - limit), when known.
  std::vector<double> constraints;
  std::vector<IntermediateValue> intermediate;
};

class Sampler {
 public:
  virtual ~Sampler() = default;
  virtual std::vector<Params> suggest(int n, std::span<const Observation> history) = 0;
  virtual void tell(const Observation& observation) { (void)observation; }
  virtual std::string name() const = 0;
  // Whether suggest() can take long enough (a model fit) that the
  // coordinator should run it off its loop (coordinator/suggestion_thread.h).
  virtual bool slow() const { return false; }
};

// A splitmix64 step: the one hash used to derive seeds (per trial, per sampler
// draw) so that sequences depend only on (seed, index).
constexpr std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t index) {
  std::uint64_t z = seed + 0x9E3779B97F4A7C15ull * (index + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace lorafarm::search
