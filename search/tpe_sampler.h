// The Tree-structured Parzen Estimator (Bergstra et al. 2011; defaults as
// described by Watanabe 2023 and Optuna's documentation): after a random
// start, the finished trials split into the best gamma(n) = min(ceil(n/10), 25)
// and the rest; per parameter (univariate), a Parzen estimator l of the good
// and g of the other values; candidates drawn from l, the one with the largest
// l/g kept. Parameters are sampled parents-first, each from the trials where
// it was active, so conditional spaces need nothing special.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "search/random_sampler.h"
#include "search/sampler.h"

namespace lorafarm::search {

struct TpeOptions {
  int startup_trials = 10;  // uniform random configurations before the model
  int candidates = 24;      // draws from l per parameter
  double prior_weight = 1.0;
};

class TpeSampler : public Sampler {
 public:
  TpeSampler(SearchSpace space, std::uint64_t seed, TpeOptions options = {});
  std::vector<Params> suggest(int n, std::span<const Observation> history) override;
  std::string name() const override { return "tpe"; }

  // One configuration from the model of `history`, whatever its size;
  // `pending` (not yet in the history) counts as running. Depends only on
  // (seed, index, history, pending).
  Params propose(std::span<const Observation> history, std::span<const Params> pending, std::uint64_t index) const;
  // `count` configurations drawn from the good trials' estimators l alone
  // (each parameter independently, parents first), unscored.
  std::vector<Params> draws_from_good(std::span<const Observation> history, std::span<const Params> pending,
                                      std::uint64_t index, int count) const;

 private:
  SearchSpace space_;
  std::uint64_t seed_;
  TpeOptions options_;
  RandomSampler random_;
};

}  // namespace lorafarm::search
