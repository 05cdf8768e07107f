// The unit-cube optimiser: distinct parallel suggestions, the feasibility
// model on a toy constrained problem, determinism, the subset-of-data path,
// and that it actually optimises.
#include "search/bayes_optimizer.h"

#include <gtest/gtest.h>

#include <cmath>

#include "search/test_functions.h"

namespace lorafarm::search {
namespace {

double min_pairwise(const std::vector<Eigen::VectorXd>& points) {
  double best = std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < points.size(); ++i)
    for (std::size_t j = i + 1; j < points.size(); ++j) best = std::min(best, (points[i] - points[j]).norm());
  return best;
}

std::vector<CubeObservation> observe(BayesOptimizer& opt, const std::function<double(const Eigen::VectorXd&)>& f, int n) {
  std::vector<CubeObservation> history;
  for (int i = 0; i < n; ++i) {
    const Eigen::VectorXd x = opt.suggest(history, {}, 1).front();
    history.push_back({x, f(x), PointOutcome::Completed});
  }
  return history;
}

TEST(BayesOptimizer, ParallelSuggestionsAreDistinctFromEachOtherAndFromRunningPoints) {
  const TestFunction branin_fn = branin();
  BayesOptions options;
  options.seed = 3;
  BayesOptimizer opt(CubeSpace::box(2), options);
  auto history = observe(opt, [&](const Eigen::VectorXd& u) { return branin_fn.at_unit(u); }, 15);
  for (PendingStrategy strategy : {PendingStrategy::KrigingBeliever, PendingStrategy::ConstantLiarMin,
                                   PendingStrategy::ConstantLiarMean}) {
    options.pending = strategy;
    BayesOptimizer parallel(CubeSpace::box(2), options);
    // Three trials running, eight more wanted at once.
    std::vector<Eigen::VectorXd> running = parallel.suggest(history, {}, 3);
    const auto batch = parallel.suggest(history, running, 8);
    ASSERT_EQ(batch.size(), 8u);
    std::vector<Eigen::VectorXd> all = running;
    all.insert(all.end(), batch.begin(), batch.end());
    EXPECT_GE(min_pairwise(all), 1e-3) << "strategy " << static_cast<int>(strategy);
  }
}

TEST(BayesOptimizer, InitialDesignBatchIsDistinct) {
  BayesOptimizer opt(CubeSpace::box(3), BayesOptions{});
  const auto batch = opt.suggest({}, {}, 12);
  EXPECT_TRUE(opt.diagnostics().from_initial_design);
  EXPECT_GE(min_pairwise(batch), 1e-3);
}

TEST(BayesOptimizer, IsDeterministicGivenSeedAndHistory) {
  BayesOptions options;
  options.seed = 11;
  const auto f = [](const Eigen::VectorXd& x) { return (x.array() - 0.3).square().sum(); };
  BayesOptimizer a(CubeSpace::box(2), options), b(CubeSpace::box(2), options);
  const auto ha = observe(a, f, 12), hb = observe(b, f, 12);
  for (std::size_t i = 0; i < ha.size(); ++i) EXPECT_EQ(ha[i].x, hb[i].x) << "trial " << i;
}

TEST(BayesOptimizer, FindsTheMinimumOfBranin) {
  const TestFunction fn = branin();
  BayesOptions options;
  options.seed = 1;
  BayesOptimizer opt(CubeSpace::box(2), options);
  const auto history = observe(opt, [&](const Eigen::VectorXd& u) { return fn.at_unit(u); }, 30);
  double best = std::numeric_limits<double>::infinity();
  for (const auto& o : history) best = std::min(best, o.y);
  EXPECT_LT(best - fn.minimum, 0.05);
}

// Minimise (x0-0.2)² + (x1-0.2)² where only x0 ≥ 0.5 is feasible: the
// constrained optimum is (0.5, 0.2) with value 0.09, on the boundary.
// Infeasible runs carry no objective value; with `values` they report the
// constraint c = 0.5 - x0 (feasible when ≤ 0), else only that they broke it.
struct ConstrainedRun {
  int deep_infeasible = 0;  // model-based suggestions with x0 < 0.45
  double best = std::numeric_limits<double>::infinity();
};

ConstrainedRun run_constrained(bool values) {
  BayesOptions options;
  options.seed = 5;
  options.initial_points = 8;
  BayesOptimizer opt(CubeSpace::box(2), options);
  std::vector<CubeObservation> history;
  ConstrainedRun run;
  for (int i = 0; i < 30; ++i) {
    const Eigen::VectorXd x = opt.suggest(history, {}, 1).front();
    if (i >= 8) EXPECT_TRUE(opt.diagnostics().used_feasibility_model);
    const bool feasible = x(0) >= 0.5;
    const double y = (x(0) - 0.2) * (x(0) - 0.2) + (x(1) - 0.2) * (x(1) - 0.2);
    if (i >= 8 && x(0) < 0.45) ++run.deep_infeasible;
    if (feasible) run.best = std::min(run.best, y);
    CubeObservation o{x, feasible ? y : 0.0, feasible ? PointOutcome::Completed : PointOutcome::Infeasible};
    if (values) o.constraints = {0.5 - x(0)};
    history.push_back(o);
  }
  return run;
}

TEST(BayesOptimizer, ConstraintModelFindsTheConstrainedOptimum) {
  const ConstrainedRun run = run_constrained(true);
  EXPECT_LT(run.best, 0.0905);
  EXPECT_LE(run.deep_infeasible, 2);  // of 22 model-based suggestions
}

TEST(BayesOptimizer, FeasibilityLabelsSteerAwayFromInfeasibleRegion) {
  const ConstrainedRun run = run_constrained(false);
  EXPECT_LT(run.best, 0.125);
  EXPECT_LE(run.deep_infeasible, 5);  // without the model about half would be
}

TEST(BayesOptimizer, AllFailedHistoryStillSuggestsAwayFromFailures) {
  BayesOptions options;
  options.initial_points = 4;
  BayesOptimizer opt(CubeSpace::box(2), options);
  std::vector<CubeObservation> history;
  for (const auto& x : opt.suggest({}, {}, 4)) history.push_back({x, 0.0, PointOutcome::Failed});
  const auto next = opt.suggest(history, {}, 2);
  ASSERT_EQ(next.size(), 2u);
  EXPECT_TRUE(opt.diagnostics().used_feasibility_model);
  for (const auto& x : next) EXPECT_TRUE((x.array() >= 0).all() && (x.array() <= 1).all());
}

TEST(BayesOptimizer, UsesASubsetOfDataPastTheThreshold) {
  BayesOptions options;
  options.max_exact_observations = 64;
  options.raw_samples = 128;
  BayesOptimizer opt(CubeSpace::box(3), options);
  std::mt19937_64 rng(2);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<CubeObservation> history;
  for (int i = 0; i < 200; ++i) {
    Eigen::VectorXd x(3);
    x << u(rng), u(rng), u(rng);
    history.push_back({x, (x.array() - 0.4).square().sum(), PointOutcome::Completed});
  }
  const auto next = opt.suggest(history, {}, 1);
  EXPECT_EQ(opt.diagnostics().modelled_points, 64);
  EXPECT_LT((next.front().array() - 0.4).square().sum(), 0.05);
}

TEST(BayesOptimizer, ConstantObjectiveStillGivesDistinctValidSuggestions) {
  BayesOptions options;
  options.initial_points = 5;
  BayesOptimizer opt(CubeSpace::box(3), options);
  std::vector<CubeObservation> history;
  for (const auto& x : opt.suggest({}, {}, 5)) history.push_back({x, 1.0, PointOutcome::Completed});
  const auto next = opt.suggest(history, {}, 3);
  ASSERT_EQ(next.size(), 3u);
  EXPECT_GE(min_pairwise(next), 1e-3);
  for (const auto& x : next) EXPECT_TRUE(x.allFinite() && (x.array() >= 0).all() && (x.array() <= 1).all());
}

TEST(BayesOptimizer, RejectsPointsOfTheWrongDimension) {
  BayesOptimizer opt(CubeSpace::box(2), BayesOptions{});
  std::vector<CubeObservation> bad{{Eigen::VectorXd::Zero(3), 1.0, PointOutcome::Completed}};
  EXPECT_THROW(opt.suggest(bad, {}, 1), std::invalid_argument);
}

}  // namespace
}  // namespace lorafarm::search
