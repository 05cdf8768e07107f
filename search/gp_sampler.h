// The GP Bayesian-optimisation sampler: maps a SearchSpace to the cube the
// BayesOptimizer searches (floats and log-floats as one coordinate, ints
// relaxed and rounded, categoricals one-hot, inactive conditional parameters at
// kInactiveCoordinate) and rebuilds its model from the history on every call.
// Multi-objective histories are scalarised with ParEGO, one random weight
// vector per suggestion. On spaces with an int or a categorical, every third
// model-based suggestion is chosen by the acquisition among TPE's draws from
// its good-trial estimators (docs/search.md, "Mixed spaces").
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "search/bayes_optimizer.h"
#include "search/sampler.h"
#include "search/tpe_sampler.h"

namespace lorafarm::search {

struct GpSamplerOptions {
  BayesOptions bayes;   // bayes.seed and bayes.pending are replaced (seed, and `pending` below)
  double parego_rho = 0.05;
  // How running trials are fantasised. Unset: the constant liar at the mean
  // when the space has an int or a categorical, the kriging believer when all
  // parameters are floats (docs/search.md, "Parallel").
  std::optional<PendingStrategy> pending;
  // Every k-th suggestion after the initial design (the 1st, (k+1)-th, ...;
  // warm-start trials count, as for the design) is the best by the
  // acquisition among `tpe_draws` configurations drawn from
  // TPE's estimators l of the good trials, as they are. Unset: 3 when the space
  // has an int or a categorical, 0 (never) when all parameters are floats.
  // Single-objective only.
  std::optional<int> tpe_every;
  int tpe_draws = 24;
};

class GpSampler : public Sampler {
 public:
  GpSampler(SearchSpace space, std::uint64_t seed, GpSamplerOptions options = {});
  GpSampler(const GpSampler&) = delete;  // the optimiser's canonicaliser points back here
  GpSampler& operator=(const GpSampler&) = delete;

  std::vector<Params> suggest(int n, std::span<const Observation> history) override;
  std::string name() const override { return "gp"; }
  bool slow() const override { return true; }

  // User-provided starting points, suggested first (in order) unless the
  // history already holds them. Validated against the space.
  void enqueue(const Params& params);
  // Finished trials of another experiment on the same space, modelled as if
  // they were this one's (their trial numbers are ignored).
  void warm_start(std::vector<Observation> previous);

  // The Sobol design size (the automatic one unless the options set it).
  int initial_points() const { return options_.bayes.initial_points; }
  // The encoding the model sees; public for tests.
  int model_dimensions() const { return dim_; }
  PendingStrategy pending_strategy() const { return options_.bayes.pending; }
  Eigen::VectorXd to_model(const Params& params) const;
  Params from_model(const Eigen::VectorXd& x) const;
  // Snaps a point of [0,1]^model_dimensions() to a valid encoded configuration.
  void canonicalize(Eigen::Ref<Eigen::VectorXd> x) const;
  // The encoded configurations one discrete step from `x`: each other choice of
  // each active categorical (parameters it activates start mid-range), and each
  // active int ±1 (log ints also ×2 and ÷2), all within bounds.
  std::vector<Eigen::VectorXd> neighbours(const Eigen::VectorXd& x) const;

 private:
  struct Slot {
    int offset = 0;
    int width = 1;  // categoricals: one coordinate per choice
  };
  SearchSpace space_;
  std::uint64_t seed_;
  GpSamplerOptions options_;
  std::vector<Slot> slots_;  // per parameter, in space order
  int dim_ = 0;
  std::unique_ptr<BayesOptimizer> optimizer_;  // keeps fitted hyperparameters between calls
  BayesOptimizer& optimizer();
  Params completed(const Params& partial) const;
  std::vector<Params> enqueued_;
  std::vector<Observation> warm_;
  TpeSampler tpe_;
  bool takes_tpe_draws(std::uint64_t trial) const;
  std::vector<Eigen::VectorXd> tpe_draws(std::span<const Observation> history, std::span<const Params> pending,
                                         std::uint64_t trial) const;
};

}  // namespace lorafarm::search
