// Asynchronous successive halving (ASHA, Li et al. 2020, "A System for
// Massively Parallel Hyperparameter Tuning") as a pruner: each trial reports
// its intermediate objective (minimised) as it trains, and at every rung the
// answer is CONTINUE if the trial is in the top 1/η of the values recorded at
// that rung so far, else STOP. With several brackets (Hyperband-style), trial
// n goes to bracket n mod brackets; bracket b's first rung is min_resource·η^b.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

namespace lorafarm::search {

struct AshaOptions {
  double min_resource = 1.0;      // steps before the first decision
  double max_resource = 81.0;     // a trial's full budget
  double reduction_factor = 3.0;  // η: keep the top 1/η at each rung
  int brackets = 1;
};

enum class AshaDecision { Continue, Stop };

class Asha {
 public:
  // Throws std::invalid_argument naming the bad option.
  explicit Asha(AshaOptions options);

  // Rung resources of a bracket: min_resource·η^(b+k) < max_resource, ascending.
  std::vector<double> rungs(int bracket) const;
  int bracket_of(std::int64_t trial) const;

  // `trial` has trained `step` units and its objective is `value`. Every rung
  // the trial has passed since its last report records `value`; the trial
  // stops if it is outside the top 1/η at any of them, and at max_resource.
  // (Without pausing trials, the first η-1 arrivals at a rung continue only
  // if they are the best so far.) NaN values stop the trial.
  AshaDecision report(std::int64_t trial, double step, double value);

  // Values recorded at a rung, in arrival order (for reports and tests).
  std::vector<double> rung_values(int bracket, int rung) const;

 private:
  bool promotable(const std::vector<double>& values, double value) const;

  AshaOptions options_;
  // Per bracket and rung, the values recorded there.
  std::vector<std::vector<std::vector<double>>> recorded_;
  std::map<std::int64_t, int> next_rung_;  // per trial: index of the first rung it has not passed
};

}  // namespace lorafarm::search
