// The one-parameter Parzen estimators of TPE (Bergstra et al. 2011; Watanabe
// 2023): a weighted mixture of one kernel per observation and one prior kernel,
// on a unit-interval coordinate (truncated normals) or on a categorical's
// choices (a smoothed histogram).
#pragma once

#include <cstddef>
#include <random>
#include <span>
#include <vector>

namespace lorafarm::search {

// TPE's observation weights, oldest first: 1 each for up to 25 observations;
// beyond that the newest 25 weigh 1 and the older ones ramp linearly from 1/n
// (the oldest) towards 1, so old trials fade (Optuna's documented default).
std::vector<double> tpe_weights(std::size_t n);

// A mixture of normals truncated to [0, 1]. Observation i has mean x_i; its
// bandwidth is the larger of the gaps to its sorted neighbours (the prior's
// mean 0.5 and the ends 0 and 1 included; the outermost observations use their
// inner gap only), clipped to [1/min(100, n+2), 1]. The prior kernel is
// N(0.5, 1) with weight `prior_weight`.
class NumericParzen {
 public:
  NumericParzen(std::span<const double> x, std::span<const double> weights, double prior_weight);
  double log_density(double u) const;
  double sample(std::mt19937_64& rng) const;

  std::span<const double> means() const { return mu_; }
  std::span<const double> bandwidths() const { return sigma_; }
  std::span<const double> mixture_weights() const { return weight_; }  // sum to 1, prior last

 private:
  std::vector<double> mu_, sigma_, weight_;
  std::vector<double> log_mass_;  // log P(0 ≤ N(mu, sigma) ≤ 1) per kernel
};

// Over k choices: observation i puts mass 1 + a on its own choice and a on each
// other (a = prior_weight / (n+1)), normalised; the prior kernel is uniform.
// The mixture of these is itself one categorical distribution.
class CategoricalParzen {
 public:
  CategoricalParzen(std::span<const int> choice, std::span<const double> weights, int choices, double prior_weight);
  double log_probability(int choice) const;
  int sample(std::mt19937_64& rng) const;
  std::span<const double> probabilities() const { return p_; }

 private:
  std::vector<double> p_;
};

}  // namespace lorafarm::search
