// The multi-fidelity ("bohb") sampler: values per budget, the model budget,
// determinism, that suggestions follow the data of the chosen budget; and the
// sequential ASHA loop of the benchmark on a hand-worked example.
#include "search/multi_fidelity_sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>

#include "search/multi_fidelity_run.h"

namespace lorafarm::search {
namespace {

SearchSpace unit_line() {
  Parameter x;
  x.name = "x";
  x.low = 0.0;
  x.high = 1.0;
  return SearchSpace({x});
}

Observation trial(std::int64_t number, double x, ObservationStatus status, std::vector<IntermediateValue> curve,
                  std::vector<double> objectives = {}) {
  Observation o;
  o.trial_number = number;
  o.params = {{"x", x}};
  o.status = status;
  o.intermediate = std::move(curve);
  o.objectives = std::move(objectives);
  return o;
}

MultiFidelityOptions budgets_3_9_27(int min_points = 3, StoppedTrials stopped = StoppedTrials::LastValue) {
  MultiFidelityOptions options;
  options.budgets = {3, 9, 27};
  options.min_points = min_points;
  options.stopped = stopped;
  return options;
}

TEST(MultiFidelitySampler, ValueAtABudgetIsTheFirstReportAtOrPastIt) {
  const MultiFidelitySampler sampler(unit_line(), 1, budgets_3_9_27());
  const auto running = trial(0, 0.5, ObservationStatus::Running, {{1, 5.0}, {3, 4.0}, {5, 3.5}, {10, 3.0}});
  EXPECT_EQ(sampler.value_at(running, 0), 4.0);
  EXPECT_EQ(sampler.value_at(running, 1), 3.0);  // no report at 9: the first past it (10)
  EXPECT_FALSE(sampler.value_at(running, 2));
  // At the full budget a completed trial counts with its final objective.
  const auto done = trial(1, 0.5, ObservationStatus::Completed, {{3, 4.0}, {9, 3.0}, {27, 2.6}}, {2.5});
  EXPECT_EQ(sampler.value_at(done, 2), 2.5);
  EXPECT_EQ(sampler.value_at(done, 1), 3.0);
}

// Trials: 0 completed, 1 stopped at rung 3, 2 running at step 3, 3 failed.
std::vector<Observation> four_trials() {
  return {trial(0, 0.1, ObservationStatus::Completed, {{3, 4.0}, {9, 3.0}, {27, 2.0}}, {2.0}),
          trial(1, 0.2, ObservationStatus::Pruned, {{3, 6.0}}, {6.0}),
          trial(2, 0.3, ObservationStatus::Running, {{3, 5.0}}),
          trial(3, 0.4, ObservationStatus::Failed, {})};
}

TEST(MultiFidelitySampler, EachBudgetSeesTheValuesReportedThere) {
  const auto history = four_trials();
  const MultiFidelitySampler last(unit_line(), 1, budgets_3_9_27(3, StoppedTrials::LastValue));
  const auto at9 = last.budget_history(1, history);
  ASSERT_EQ(at9.size(), 4u);
  EXPECT_EQ(at9[0].status, ObservationStatus::Completed);
  EXPECT_EQ(at9[0].objectives, std::vector<double>{3.0});
  EXPECT_EQ(at9[1].status, ObservationStatus::Completed);  // stopped below 9: at the value it stopped at
  EXPECT_EQ(at9[1].objectives, std::vector<double>{6.0});
  EXPECT_EQ(at9[2].status, ObservationStatus::Running);  // may still get to 9: pending
  EXPECT_EQ(at9[3].status, ObservationStatus::Failed);
  const auto at3 = last.budget_history(0, history);
  ASSERT_EQ(at3.size(), 4u);
  EXPECT_EQ(at3[2].status, ObservationStatus::Completed);  // running, but past 3
  EXPECT_EQ(at3[2].objectives, std::vector<double>{5.0});

  // Shifted: trial 1's 6.0 at 3, plus the median change from 3 to the budget
  // over the trials with both (trial 0 only: 4 → 3 at 9, 4 → 2 at 27).
  const MultiFidelitySampler shifted(unit_line(), 1, budgets_3_9_27(3, StoppedTrials::Shifted));
  EXPECT_EQ(shifted.budget_history(1, history)[1].objectives, std::vector<double>{5.0});
  EXPECT_EQ(shifted.budget_history(2, history)[1].objectives, std::vector<double>{4.0});

  const MultiFidelitySampler exclude(unit_line(), 1, budgets_3_9_27(3, StoppedTrials::Exclude));
  const auto excluded = exclude.budget_history(1, history);
  ASSERT_EQ(excluded.size(), 3u);
  EXPECT_EQ(excluded[1].trial_number, 2);  // trial 1 left out
}

TEST(MultiFidelitySampler, ModelsTheLargestBudgetWithEnoughValues) {
  const MultiFidelitySampler sampler(unit_line(), 1, budgets_3_9_27(3));
  std::vector<Observation> history;
  // Five trials at 3, three of them went on to 9, one of those to 27.
  for (int i = 0; i < 5; ++i) history.push_back(trial(i, 0.1 * i, ObservationStatus::Pruned, {{3, 5.0 - i}}));
  for (int i = 2; i < 5; ++i) history[i].intermediate.push_back({9, 4.0 - i});
  history[4].status = ObservationStatus::Completed;
  history[4].intermediate.push_back({27, 0.5});
  history[4].objectives = {0.5};
  EXPECT_EQ(sampler.model_budget(history), 1u);
  history.push_back(trial(5, 0.6, ObservationStatus::Failed, {{3, 1.0}, {9, 1.0}, {27, 1.0}}));  // failures don't count
  EXPECT_EQ(sampler.model_budget(history), 1u);
  for (int i = 2; i < 4; ++i) {
    history[i].status = ObservationStatus::Completed;
    history[i].objectives = {1.0};
  }
  EXPECT_EQ(sampler.model_budget(history), 2u);
  EXPECT_EQ(sampler.model_budget(std::vector<Observation>{}), 0u);
}

TEST(MultiFidelitySampler, RejectsBudgetsThatAreNotAscending) {
  MultiFidelityOptions options;
  options.budgets = {3, 3, 9};
  try {
    MultiFidelitySampler sampler(unit_line(), 0, options);
    FAIL() << "accepted budgets 3, 3, 9";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("ascending"), std::string::npos) << e.what();
  }
}

// Twelve trials spread over [0, 1], all trained to the full budget 2: at
// budget 1 the values favour x = 0.2, at the full budget x = 0.8.
std::vector<Observation> two_budget_history() {
  std::vector<Observation> history;
  for (int i = 0; i < 12; ++i) {
    const double x = (i + 0.5) / 12.0;
    const double low = (x - 0.2) * (x - 0.2) + 1.0, full = (x - 0.8) * (x - 0.8);
    history.push_back(trial(i, x, ObservationStatus::Completed, {{1, low}, {2, full}}, {full}));
  }
  return history;
}

double suggested_x(MultiFidelitySampler& sampler, const std::vector<Observation>& history) {
  return sampler.suggest(1, history).at(0)["x"].get<double>();
}

TEST(MultiFidelitySampler, SuggestsFromTheModelOfTheChosenBudget) {
  const auto history = two_budget_history();
  MultiFidelityOptions options;
  options.budgets = {1, 2};
  options.min_points = 12;  // the full budget has twelve values: its model decides
  MultiFidelitySampler full(unit_line(), 5, options);
  const double at_full = suggested_x(full, history);
  EXPECT_EQ(full.last_model_budget(), 1u);
  EXPECT_NEAR(at_full, 0.8, 0.1);
  options.min_points = 13;  // no budget has enough: the first budget's model decides
  MultiFidelitySampler low(unit_line(), 5, options);
  const double at_low = suggested_x(low, history);
  EXPECT_EQ(low.last_model_budget(), 0u);
  EXPECT_NEAR(at_low, 0.2, 0.1);
}

TEST(MultiFidelitySampler, IsDeterministicGivenTheSeed) {
  const auto history = two_budget_history();
  MultiFidelityOptions options;
  options.budgets = {1, 2};
  options.min_points = 12;
  options.random_fraction = 0.5;
  MultiFidelitySampler a(unit_line(), 11, options), b(unit_line(), 11, options), c(unit_line(), 12, options);
  const auto from_a = a.suggest(4, history);
  EXPECT_EQ(from_a, b.suggest(4, history));
  EXPECT_NE(from_a, c.suggest(4, history));
  // Empty history: the first budget's Sobol design, the same for the same seed.
  EXPECT_EQ(a.suggest(3, {}), b.suggest(3, {}));
}

// A sampler handing out {"id": 0}, {"id": 1}, ... in order.
class Sequence : public Sampler {
 public:
  std::vector<Params> suggest(int n, std::span<const Observation> history) override {
    std::vector<Params> out;
    for (int i = 0; i < n; ++i) out.push_back({{"id", history.size() + static_cast<std::size_t>(i)}});
    return out;
  }
  std::string name() const override { return "sequence"; }
};

// ASHA with η = 2, rungs at steps 1 and 2, full budget 4; a point costs the
// steps since the previous one; the run may spend 13 steps. By hand
// (continue iff fewer than max(1, ⌊n/2⌋) recorded values are better):
//   t0 1:5 (n=1) 2:4 (n=1) 4:3 → completes, cost 4
//   t1 1:6 (n=2, 5 better) → stopped, cost 5
//   t2 1:4.5 (n=3, top 1) 2:3.5 (n=2, top 1) 4:2.5 → completes, cost 9
//   t3 1:5.5 (n=4, top 2; 5 and 4.5 better) → stopped, cost 10 (its final 1.0 is never seen)
//   t4 1:4.8 (n=5, top 2; 4.5 better) 2:4.2 (n=3, top 1; 4 and 3.5 better) → stopped, cost 12
//   t5 1:1.0 → cost 13; step 2 would make 14: the run ends with t5 running.
TEST(MultiFidelityRun, PromotesByHandWorkedAshaDecisionsAndCountsSteps) {
  const std::map<int, std::vector<double>> curves = {{0, {5, 4, 3}},       {1, {6, 5, 4}},       {2, {4.5, 3.5, 2.5}},
                                                     {3, {5.5, 4.5, 1.0}}, {4, {4.8, 4.2, 3.9}}, {5, {1.0, 0.5, 0.1}}};
  const CurveOf curve = [&](const Params& p) {
    const auto& v = curves.at(p["id"].get<int>());
    return std::vector<IntermediateValue>{{1, v[0]}, {2, v[1]}, {4, v[2]}};
  };
  Sequence sequence;
  const FidelityRun run = run_with_pruner(sequence, Asha({1, 4, 2, 1}), curve, 13);
  using S = ObservationStatus;
  const std::vector<S> expected = {S::Completed, S::Pruned, S::Completed, S::Pruned, S::Pruned, S::Running};
  ASSERT_EQ(run.history.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(run.history[i].status, expected[i]) << "trial " << i;
  EXPECT_EQ(run.history[4].intermediate.size(), 2u);
  EXPECT_DOUBLE_EQ(run.cost, 13.0);
  ASSERT_EQ(run.completions.size(), 2u);
  EXPECT_DOUBLE_EQ(run.completions[0].cost, 4.0);
  EXPECT_DOUBLE_EQ(run.completions[1].cost, 9.0);
  EXPECT_DOUBLE_EQ(best_final_within(run, 8), 3.0);
  EXPECT_DOUBLE_EQ(best_final_within(run, 13), 2.5);
  EXPECT_EQ(best_final_within(run, 3), std::numeric_limits<double>::infinity());
  // Without a pruner every trial costs its full curve: three trials in 13 steps.
  Sequence again;
  EXPECT_EQ(run_with_pruner(again, std::nullopt, curve, 13).completions.size(), 3u);
}

}  // namespace
}  // namespace lorafarm::search
