// The GP sampler's TPE draws on mixed spaces: BayesOptimizer::choose picks the
// candidate the model prefers and never a repeat; every third model-based
// suggestion is one of TPE's draws; all-float spaces are left to the GP alone.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "search/bayes_optimizer.h"
#include "search/gp_sampler.h"
#include "search/test_functions.h"
#include "search/tpe_sampler.h"
#include "search/completed_trial.h"

namespace lorafarm::search {
namespace {

// Eight observations of (x − 0.3)² on [0, 1]: a candidate next to 0.3 has a
// far lower predicted value than one at 0.95 (an observed region with value
// ≈ 0.42), so its expected improvement is larger. An observed point is a
// repeat and is never chosen, however good.
TEST(BayesOptimizerChoose, TakesTheCandidateNearTheMinimumAndSkipsRepeats) {
  BayesOptimizer opt(CubeSpace::box(1), {});
  std::vector<CubeObservation> observed;
  for (int i = 0; i < 8; ++i) {
    const double x = (i + 0.5) / 8;
    observed.push_back({Eigen::VectorXd::Constant(1, x), std::pow(x - 0.3, 2)});
  }
  const std::vector<Eigen::VectorXd> candidates{Eigen::VectorXd::Constant(1, 0.95), Eigen::VectorXd::Constant(1, 0.29)};
  EXPECT_NEAR(opt.choose(observed, {}, candidates)(0), 0.29, 1e-12);
  const std::vector<Eigen::VectorXd> with_repeat{observed[2].x, Eigen::VectorXd::Constant(1, 0.95)};
  EXPECT_NEAR(opt.choose(observed, {}, with_repeat)(0), 0.95, 1e-12);
  const std::vector<Eigen::VectorXd> wrong{Eigen::VectorXd::Constant(2, 0.5)};
  EXPECT_THROW(opt.choose(observed, {}, wrong), std::invalid_argument);
}

// Trials 10, 13, 16, ... (the design has 10) are among TPE's 24 draws for that
// trial, which depend only on (seed, history); the others are the GP's own.
TEST(GpTpePortfolio, EveryThirdSuggestionAfterTheDesignIsOneOfTpesDraws) {
  const MixedTestFunction f = mixed_lora_like();
  GpSampler gp(f.space, 5);
  const TpeSampler tpe(f.space, 5);
  ASSERT_EQ(gp.initial_points(), 10);
  std::vector<Observation> history;
  int from_draws = 0;
  for (int t = 0; t < 20; ++t) {
    const Params p = gp.suggest(1, history).at(0);
    ASSERT_NO_THROW(f.space.validate(p));
    const auto draws = tpe.draws_from_good(history, {}, history.size(), 24);
    const bool is_draw = std::find(draws.begin(), draws.end(), p) != draws.end();
    if (t >= 10 && (t - 10) % 3 == 0) {
      EXPECT_TRUE(is_draw) << "trial " << t << ": " << p.dump();
      from_draws += is_draw;
    }
    history.push_back(completed_trial(t, p, f.f(p)));
  }
  EXPECT_EQ(from_draws, 4);  // trials 10, 13, 16, 19
}

// `trials` suggestions asked one at a time, each finished before the next.
std::vector<Observation> run_one_at_a_time(GpSampler& sampler, const MixedTestFunction& f, int trials) {
  std::vector<Observation> history;
  for (int t = 0; t < trials; ++t) {
    const Params p = sampler.suggest(1, history).at(0);
    history.push_back(completed_trial(t, p, f.f(p)));
  }
  return history;
}

// A batch across a TPE trial: distinct valid configurations, the same as
// asking for the trials one at a time with the earlier ones running.
TEST(GpTpePortfolio, BatchesAcrossATpeTrialAreDistinctAndValid) {
  const MixedTestFunction f = mixed_lora_like();
  GpSampler gp(f.space, 2);
  const std::vector<Observation> history = run_one_at_a_time(gp, f, 12);
  const auto batch = gp.suggest(5, history);  // trials 12..16: 13 and 16 take TPE's draws
  std::set<std::string> distinct;
  for (const auto& p : batch) {
    ASSERT_NO_THROW(f.space.validate(p));
    distinct.insert(p.dump());
  }
  EXPECT_EQ(distinct.size(), 5u);
}

// Warm-start trials count towards the design, as in the optimiser: after 10
// of them, this run's first suggestion already takes TPE's draws (of the
// warm-start history), its second does not.
TEST(GpTpePortfolio, WarmStartTrialsCountTowardsTheDesign) {
  const MixedTestFunction f = mixed_lora_like();
  GpSampler yesterday(f.space, 4);
  const std::vector<Observation> warm = run_one_at_a_time(yesterday, f, 10);
  GpSampler today(f.space, 4);
  today.warm_start(warm);
  const Params first = today.suggest(1, {}).at(0);
  const auto draws = TpeSampler(f.space, 4).draws_from_good(warm, {}, 0, 24);
  EXPECT_NE(std::find(draws.begin(), draws.end(), first), draws.end()) << first.dump();
  const std::vector<Observation> one{completed_trial(0, first, f.f(first))};
  const Params second = today.suggest(1, one).at(0);
  std::vector<Observation> all = warm;
  all.push_back(one.front());
  const auto next_draws = TpeSampler(f.space, 4).draws_from_good(all, {}, 1, 24);
  EXPECT_EQ(std::find(next_draws.begin(), next_draws.end(), second), next_draws.end()) << second.dump();
}

// All-float spaces keep the GP alone: the default equals tpe_every = 0.
TEST(GpTpePortfolio, AllFloatSpacesAreUnchanged) {
  const auto space = SearchSpace::from_json(nlohmann::json::parse(R"({
    "a": {"type": "float", "low": 0, "high": 1}, "b": {"type": "float", "low": 1e-4, "high": 1, "log": true}})"));
  GpSampler by_default(space, 9);
  GpSamplerOptions off;
  off.tpe_every = 0;
  GpSampler gp_only(space, 9, off);
  std::vector<Observation> history;
  for (int t = 0; t < 14; ++t) {
    const Params p = by_default.suggest(1, history).at(0);
    ASSERT_EQ(p, gp_only.suggest(1, history).at(0)) << "trial " << t;
    const double a = p["a"].get<double>(), b = std::log10(p["b"].get<double>());
    history.push_back(completed_trial(t, p, std::pow(a - 0.4, 2) + std::pow(b + 2, 2)));
  }
}

}  // namespace
}  // namespace lorafarm::search
