// The TPE sampler and its Parzen estimators: weights, bandwidths and
// probabilities derived by hand, densities that integrate to one, samples that
// follow the density, and proposals where l/g's best region is known.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>

#include "search/parzen_estimator.h"
#include "search/random_sampler.h"
#include "search/test_functions.h"
#include "search/tpe_sampler.h"
#include "search/completed_trial.h"

namespace lorafarm::search {
namespace {

TEST(TpeWeights, FlatUpToTwentyFiveThenOldTrialsRampFromOneOverN) {
  EXPECT_EQ(tpe_weights(0).size(), 0u);
  for (double w : tpe_weights(25)) EXPECT_EQ(w, 1.0);
  const auto w = tpe_weights(27);  // ramp of 2: 1/27 then 1, then 25 ones
  ASSERT_EQ(w.size(), 27u);
  EXPECT_DOUBLE_EQ(w[0], 1.0 / 27);
  EXPECT_DOUBLE_EQ(w[1], 1.0);
  const auto v = tpe_weights(30);  // ramp of 5 from 1/30 to 1 in equal steps
  EXPECT_DOUBLE_EQ(v[0], 1.0 / 30);
  EXPECT_DOUBLE_EQ(v[2], 1.0 / 30 + 0.5 * (1 - 1.0 / 30));
  EXPECT_DOUBLE_EQ(v[4], 1.0);
  EXPECT_DOUBLE_EQ(v[29], 1.0);
}

// Observations 0.2 and 0.9 with the prior's mean 0.5 and the ends 0 and 1:
// sorted 0 | 0.2 0.5 0.9 | 1. The lowest (0.2) takes its inner gap 0.3, the
// highest (0.9) its inner gap 0.4; the clip floor 1/min(100, 2+2) = 0.25.
TEST(NumericParzen, BandwidthsAndDensityMatchHandDerivedValues) {
  const std::vector<double> x{0.2, 0.9}, w{1.0, 1.0};
  const NumericParzen p(x, w, 1.0);
  ASSERT_EQ(p.bandwidths().size(), 3u);
  EXPECT_DOUBLE_EQ(p.bandwidths()[0], 0.3);
  EXPECT_DOUBLE_EQ(p.bandwidths()[1], 0.4);
  EXPECT_DOUBLE_EQ(p.bandwidths()[2], 1.0);  // the prior: N(0.5, 1)
  EXPECT_DOUBLE_EQ(p.means()[2], 0.5);
  for (double m : p.mixture_weights()) EXPECT_DOUBLE_EQ(m, 1.0 / 3);
  // Density at 0.2, term by term: w·φ((u−μ)/σ)/σ / (Φ((1−μ)/σ) − Φ(−μ/σ)).
  const auto Phi = [](double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); };
  const auto term = [&](double u, double mu, double s) {
    const double z = (u - mu) / s;
    return std::exp(-0.5 * z * z) / (s * std::sqrt(2 * M_PI)) / (Phi((1 - mu) / s) - Phi(-mu / s)) / 3.0;
  };
  const double expected = term(0.2, 0.2, 0.3) + term(0.2, 0.9, 0.4) + term(0.2, 0.5, 1.0);
  EXPECT_NEAR(std::exp(p.log_density(0.2)), expected, 1e-12);
  EXPECT_TRUE(std::isinf(p.log_density(1.01)));
}

TEST(NumericParzen, BandwidthsAreClippedBelowForCrowdedObservations) {
  std::vector<double> x;
  for (int i = 0; i < 8; ++i) x.push_back(0.4 + 0.001 * i);
  const NumericParzen p(x, tpe_weights(x.size()), 1.0);
  for (std::size_t i = 0; i < x.size(); ++i) EXPECT_GE(p.bandwidths()[i], 1.0 / 10 - 1e-15);
}

// Independent of the formula: the truncated mixture integrates to 1 over
// [0, 1], and samples fall in each tenth as often as the density says.
TEST(NumericParzen, DensityIntegratesToOneAndSamplesFollowIt) {
  const std::vector<double> x{0.05, 0.3, 0.32, 0.97}, w{0.5, 1.0, 1.0, 2.0};
  const NumericParzen p(x, w, 1.0);
  const int n = 20000;
  double integral = 0.0;
  std::vector<double> bin_mass(10, 0.0);
  for (int i = 0; i < n; ++i) {
    const double u = (i + 0.5) / n;  // midpoint rule
    const double d = std::exp(p.log_density(u)) / n;
    integral += d;
    bin_mass[std::min(9, static_cast<int>(u * 10))] += d;
  }
  EXPECT_NEAR(integral, 1.0, 1e-6);
  std::mt19937_64 rng(7);
  std::vector<int> counts(10, 0);
  const int draws = 40000;
  for (int i = 0; i < draws; ++i) {
    const double u = p.sample(rng);
    ASSERT_GE(u, 0.0);
    ASSERT_LE(u, 1.0);
    ++counts[std::min(9, static_cast<int>(u * 10))];
  }
  for (int b = 0; b < 10; ++b) {
    const double sd = std::sqrt(draws * bin_mass[b] * (1 - bin_mass[b]));
    EXPECT_NEAR(counts[b], draws * bin_mass[b], 5 * sd + 1) << "bin " << b;
  }
}

// Choices {0, 0, 1} of 3, weights 1, prior weight 1: mixture weights 1/4 each,
// a = 1/(3+1); an observation's kernel is 5/7 on its choice and 1/7 on the
// others, the prior 1/3 each. p = (10/21, 1/3, 4/21).
TEST(CategoricalParzen, ProbabilitiesMatchHandDerivedValues) {
  const std::vector<int> c{0, 0, 1};
  const std::vector<double> w{1, 1, 1};
  const CategoricalParzen p(c, w, 3, 1.0);
  EXPECT_NEAR(p.probabilities()[0], 10.0 / 21, 1e-12);
  EXPECT_NEAR(p.probabilities()[1], 1.0 / 3, 1e-12);
  EXPECT_NEAR(p.probabilities()[2], 4.0 / 21, 1e-12);
  EXPECT_NEAR(std::exp(p.log_probability(2)), 4.0 / 21, 1e-12);
  const CategoricalParzen prior_only({}, {}, 4, 1.0);
  for (double q : prior_only.probabilities()) EXPECT_DOUBLE_EQ(q, 0.25);
}

// 20 evenly spaced trials of (x − 0.3)²: the good two (gamma(20) = 2) are
// 5/19 and 6/19, so l/g is largest near 0.29 and falls off fast; the best of
// 24 draws from l lands there.
TEST(TpeSampler, ProposesWhereTheGoodTrialsAre) {
  const auto space = SearchSpace::from_json(nlohmann::json::parse(R"({"x": {"type": "float", "low": 0, "high": 1}})"));
  std::vector<Observation> history;
  for (int i = 0; i < 20; ++i) history.push_back(completed_trial(i, {{"x", i / 19.0}}, std::pow(i / 19.0 - 0.3, 2)));
  for (std::uint64_t seed = 0; seed < 10; ++seed) {
    TpeSampler tpe(space, seed);
    const double x = tpe.suggest(1, history).at(0)["x"].get<double>();
    EXPECT_NEAR(x, 0.29, 0.09) << "seed " << seed;
  }
}

// The good trials all chose "b", the others "a" or "c": l/g favours "b" by
// far, whatever the draws.
TEST(TpeSampler, PicksTheGoodTrialsCategory) {
  const auto space = SearchSpace::from_json(
      nlohmann::json::parse(R"({"kind": {"type": "categorical", "values": ["a", "b", "c"]}})"));
  std::vector<Observation> history;
  for (int i = 0; i < 30; ++i) {
    const char* kind = i < 3 ? "b" : (i % 2 ? "a" : "c");
    history.push_back(completed_trial(i, {{"kind", kind}}, i < 3 ? 0.0 : 1.0 + i));
  }
  for (std::uint64_t seed = 0; seed < 5; ++seed) EXPECT_EQ(TpeSampler(space, seed).suggest(1, history).at(0)["kind"], "b");
}

// Start-up points are the random sampler's; after them proposals are valid
// configurations of a conditional space, deterministic, and a batch is made of
// distinct points (earlier ones count as running).
TEST(TpeSampler, StartsRandomThenProposesValidDeterministicBatches) {
  const auto cond = SearchSpace::from_json(nlohmann::json::parse(R"({
    "method": {"type": "categorical", "values": ["lora", "full"]},
    "rank": {"type": "int", "low": 1, "high": 64, "log": true, "condition": {"param": "method", "not_in": ["full"]}},
    "lr": {"type": "float", "low": 1e-5, "high": 1e-1, "log": true}})"));
  TpeSampler tpe(cond, 3);
  RandomSampler random(cond, 3);
  std::vector<Observation> history;
  for (int i = 0; i < 30; ++i) {
    const Params p = tpe.suggest(1, history).at(0);
    ASSERT_NO_THROW(cond.validate(p)) << p.dump();
    if (i < 10) EXPECT_EQ(p, random.point(i));
    const double lr = std::log10(p["lr"].get<double>());
    history.push_back(completed_trial(i, p, (p["method"] == "full" ? 1.0 : 0.0) + std::pow(lr + 3, 2)));
  }
  const auto batch = tpe.suggest(4, history);
  EXPECT_EQ(batch, TpeSampler(cond, 3).suggest(4, history));
  EXPECT_EQ(std::set<std::string>({batch[0].dump(), batch[1].dump(), batch[2].dump(), batch[3].dump()}).size(), 4u);
}

// On the synthetic mixed problem TPE beats uniform random search (the median
// of the best value over 10 seeds, 60 trials each).
TEST(TpeSampler, BeatsRandomSearchOnTheMixedLoraLikeFunction) {
  const MixedTestFunction f = mixed_lora_like();
  const auto best_of = [&](Sampler& s) {
    std::vector<Observation> history;
    double best = INFINITY;
    for (int i = 0; i < 60; ++i) {
      const Params p = s.suggest(1, history).at(0);
      const double v = f.f(p);
      best = std::min(best, v);
      history.push_back(completed_trial(i, p, v));
    }
    return best;
  };
  std::vector<double> tpe_best, random_best;
  for (std::uint64_t seed = 0; seed < 10; ++seed) {
    TpeSampler tpe(f.space, seed);
    RandomSampler random(f.space, seed);
    tpe_best.push_back(best_of(tpe));
    random_best.push_back(best_of(random));
  }
  std::sort(tpe_best.begin(), tpe_best.end());
  std::sort(random_best.begin(), random_best.end());
  EXPECT_LT(tpe_best[5], random_best[5]);
}

}  // namespace
}  // namespace lorafarm::search
