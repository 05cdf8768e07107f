// The simulated asynchronous workers and the benchmark statistics: the
// schedule against hand-derived event orders, that the GP sampler never
// proposes a running configuration, and A12 and quantiles against hand-computed values.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "search/async_simulation.h"
#include "search/benchmark_stats.h"
#include "search/gp_sampler.h"

namespace lorafarm::search {
namespace {

SearchSpace one_int_space() {
  return SearchSpace::from_json(nlohmann::json::parse(R"({"x": {"type": "int", "low": 0, "high": 1000}})"));
}

// Proposes x = 0, 1, 2, ... and records how many running trials it was shown.
class CountingSampler : public Sampler {
 public:
  std::vector<Params> suggest(int n, std::span<const Observation> history) override {
    int running = 0;
    for (const auto& o : history) running += o.status == ObservationStatus::Running ? 1 : 0;
    seen_running.push_back(running);
    seen_history.push_back(static_cast<int>(history.size()));
    std::vector<Params> out;
    for (int i = 0; i < n; ++i) out.push_back({{"x", next++}});
    return out;
  }
  std::string name() const override { return "counting"; }
  int next = 0;
  std::vector<int> seen_running, seen_history;
};

double x_of(const Params& p) { return p.at("x").get<double>(); }

TEST(AsyncSimulation, EqualCostsFinishInTrialOrderAndEveryLaterProposalSeesTheOtherWorkersRunning) {
  CountingSampler sampler;
  const auto sim = simulate_async(sampler, {3, 7}, x_of, [](int, const Params&) { return 1.0; });
  ASSERT_EQ(sim.history.size(), 7u);
  EXPECT_EQ(sim.completion_order, (std::vector<int>{0, 1, 2, 3, 4, 5, 6}));
  // Start-up: 0, 1, 2 running; then one proposal per freed worker with 2 running.
  EXPECT_EQ(sampler.seen_running, (std::vector<int>{0, 1, 2, 2, 2, 2, 2}));
  EXPECT_EQ(sampler.seen_history, (std::vector<int>{0, 1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(sim.running_at_proposal[4], (std::vector<int>{2, 3}));
  for (const auto& o : sim.history) EXPECT_EQ(o.status, ObservationStatus::Completed);
}

TEST(AsyncSimulation, UnequalCostsFollowTheHandDerivedEventOrder) {
  // Two workers; durations by trial: 5, 1, 1, 1, 1. Trial 0 runs 0–5, trial 1
  // 0–1, trial 2 1–2, trial 3 2–3, trial 4 3–4: finishes 1, 2, 3, 4, then 0;
  // trial 3 is proposed at time 2, when only trial 0 still runs.
  CountingSampler sampler;
  const std::map<int, double> durations = {{0, 5.0}, {1, 1.0}, {2, 1.0}, {3, 1.0}, {4, 1.0}};
  const auto sim = simulate_async(sampler, {2, 5}, x_of, [&](int t, const Params&) { return durations.at(t); });
  EXPECT_EQ(sim.completion_order, (std::vector<int>{1, 2, 3, 4, 0}));
  EXPECT_EQ(sim.running_at_proposal[3], (std::vector<int>{0}));
  // Objective = x = trial number here; best after k finished trials.
  EXPECT_EQ(sim.best_after_completions(), (std::vector<double>{1, 1, 1, 1, 0}));
}

TEST(AsyncSimulation, MoreWorkersThanTrialsStartsOnlyTheTrials) {
  CountingSampler sampler;
  const auto sim = simulate_async(sampler, {8, 3}, x_of, [](int, const Params&) { return 1.0; });
  EXPECT_EQ(sim.history.size(), 3u);
  EXPECT_THROW(simulate_async(sampler, {0, 3}, x_of, [](int, const Params&) { return 1.0; }), std::invalid_argument);
}

// A discrete space of exactly 8 configurations and 8 workers: from trial 8 on,
// the 7 running trials leave exactly one configuration free (the one that just
// finished), so the sampler must repeat a finished configuration rather than
// duplicate a running one.
TEST(AsyncSimulation, TheGpSamplerNeverProposesARunningConfiguration) {
  const SearchSpace space = SearchSpace::from_json(nlohmann::json::parse(R"({
    "kind": {"type": "categorical", "values": ["a", "b"]},
    "n": {"type": "int", "low": 1, "high": 4}})"));
  GpSampler sampler(space, 5);
  const auto f = [](const Params& p) { return (p.at("kind") == "a" ? 0.0 : 1.0) + p.at("n").get<double>(); };
  const auto sim = simulate_async(sampler, {8, 24}, f, [](int, const Params&) { return 1.0; });
  for (std::size_t i = 0; i < sim.history.size(); ++i) {
    space.validate(sim.history[i].params);
    std::set<std::string> running;
    for (const int j : sim.running_at_proposal[i]) running.insert(sim.history[static_cast<std::size_t>(j)].params.dump());
    EXPECT_EQ(running.count(sim.history[i].params.dump()), 0u) << "trial " << i;
  }
  // Each of the first 8 was proposed with all earlier ones running: the whole space.
  std::set<std::string> first_wave;
  for (int i = 0; i < 8; ++i) first_wave.insert(sim.history[static_cast<std::size_t>(i)].params.dump());
  EXPECT_EQ(first_wave.size(), 8u);
}

TEST(AsyncSimulation, RunningTrialsAreFantasisedByKindOfSpace) {
  const SearchSpace floats = SearchSpace::from_json(nlohmann::json::parse(R"({"lr": {"type": "float", "low": 0, "high": 1}})"));
  EXPECT_EQ(GpSampler(floats, 1).pending_strategy(), PendingStrategy::KrigingBeliever);
  EXPECT_EQ(GpSampler(one_int_space(), 1).pending_strategy(), PendingStrategy::ConstantLiarMean);
  GpSamplerOptions chosen;
  chosen.pending = PendingStrategy::ConstantLiarMin;
  EXPECT_EQ(GpSampler(one_int_space(), 1, chosen).pending_strategy(), PendingStrategy::ConstantLiarMin);
}

TEST(BenchmarkStats, VarghaDelaneyA12MatchesAHandCount) {
  // a = {1, 2, 3}, b = {2, 2, 4}: pairs a < b: (1,2),(1,2),(1,4),(2,4),(3,4) = 5;
  // ties (2,2),(2,2) = 2 × ½; A12 = 6/9.
  EXPECT_DOUBLE_EQ(vargha_delaney_a12({1, 2, 3}, {2, 2, 4}), 6.0 / 9.0);
  EXPECT_DOUBLE_EQ(vargha_delaney_a12({2, 2, 4}, {1, 2, 3}), 3.0 / 9.0);  // 1 − A12 of the swap
  EXPECT_DOUBLE_EQ(vargha_delaney_a12({5}, {5}), 0.5);
  EXPECT_THROW(vargha_delaney_a12({}, {1}), std::invalid_argument);
}

TEST(BenchmarkStats, QuantileInterpolatesBetweenOrderStatistics) {
  // numpy.quantile([4, 1, 3, 2], 0.25) = 1.75; median of 4 values = 2.5.
  EXPECT_DOUBLE_EQ(quantile({4, 1, 3, 2}, 0.25), 1.75);
  EXPECT_DOUBLE_EQ(quantile({4, 1, 3, 2}, 0.5), 2.5);
  EXPECT_DOUBLE_EQ(quantile({7}, 0.9), 7.0);
  EXPECT_THROW(quantile({}, 0.5), std::invalid_argument);
}

}  // namespace
}  // namespace lorafarm::search
