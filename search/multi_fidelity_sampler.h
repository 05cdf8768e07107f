// The multi-fidelity sampler ("bohb"): one GP per budget (the rungs of the
// sweep's ASHA scheduler and the full budget), fitted to the values the trials
// reported at that budget; each suggestion comes from the model of the largest
// budget that has enough values, as in BOHB (Falkner et al. 2018), with a GP
// in place of BOHB's kernel densities. ASHA (search/asha.h) decides promotion.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "search/gp_sampler.h"
#include "search/random_sampler.h"
#include "search/sampler.h"

namespace lorafarm::search {

// What the model of a budget makes of a trial that ASHA stopped below it.
enum class StoppedTrials {
  Exclude,    // BOHB: a budget's model sees only the trials that reached it
  LastValue,  // the value it was stopped at (pessimistic: the curve only falls)
  // The value at the last budget it reached, plus the median change from that
  // budget to this one over the trials that reached both: the model sees it on
  // this budget's scale, without a jump between stopped and promoted trials.
  Shifted,
};

struct MultiFidelityOptions {
  std::vector<double> budgets;  // ascending; the last is the full budget (ASHA's max_resource)
  // Values a budget needs before its model is used; 0: the larger of d+1
  // (BOHB's N_min) and the GP's initial design size.
  int min_points = 0;
  double random_fraction = 0.0;  // BOHB's ρ: this share of suggestions is uniform random
  StoppedTrials stopped = StoppedTrials::Shifted;
  GpSamplerOptions gp;
};

class MultiFidelitySampler : public Sampler {
 public:
  // Throws std::invalid_argument naming the bad option.
  MultiFidelitySampler(SearchSpace space, std::uint64_t seed, MultiFidelityOptions options);

  std::vector<Params> suggest(int n, std::span<const Observation> history) override;
  std::string name() const override { return "bohb"; }
  bool slow() const override { return true; }

  // The objective of `o` at budget index `k`: the final objective at the full
  // budget when the trial completed, else its first report at a step ≥ the
  // budget (the value ASHA recorded at that rung). None if it has not got there.
  std::optional<double> value_at(const Observation& o, std::size_t k) const;
  // The history the model of budget `k` sees: trials that reached it (as
  // completed, at their value there), running ones that have not (pending),
  // failed and infeasible ones as they are, stopped ones per `stopped`.
  std::vector<Observation> budget_history(std::size_t k, std::span<const Observation> history) const;
  // The largest budget index with at least min_points values (0 if none).
  std::size_t model_budget(std::span<const Observation> history) const;
  int min_points() const { return options_.min_points; }
  // The budget whose model made the last suggestion (for benchmarks and tests).
  std::size_t last_model_budget() const { return last_budget_; }

 private:
  bool random_draw(std::uint64_t index) const;
  // Per budget j < k: the median of (value at k − value at j) over the trials with both.
  std::vector<std::optional<double>> median_changes(std::size_t k, std::span<const Observation> history) const;
  // The value a trial stopped below budget k stands for there (per `stopped`).
  std::optional<double> stopped_value(const Observation& o, std::size_t k,
                                      const std::vector<std::optional<double>>& shifts) const;

  SearchSpace space_;
  std::uint64_t seed_;
  MultiFidelityOptions options_;
  std::vector<std::unique_ptr<GpSampler>> models_;  // one per budget: each keeps its own fitted hyperparameters
  RandomSampler random_;
  std::size_t last_budget_ = 0;
};

}  // namespace lorafarm::search
