// The trial state machine: legal and illegal transitions, retries and lineage.
#include "coordinator/trial_lifecycle.h"

#include <gtest/gtest.h>

#include "test_support.h"

namespace lorafarm::coordinator {
namespace {

using schema::TrialStatus;

TEST(TrialLifecycle, TransitionTableAllowsOnlyTheDocumentedMoves) {
  EXPECT_TRUE(transition_allowed(TrialStatus::Queued, TrialStatus::Running));
  EXPECT_FALSE(transition_allowed(TrialStatus::Queued, TrialStatus::Completed));
  EXPECT_TRUE(transition_allowed(TrialStatus::Queued, TrialStatus::Infeasible));  // fits no worker: never started
  for (auto to : {TrialStatus::Completed, TrialStatus::Failed, TrialStatus::Pruned, TrialStatus::Infeasible, TrialStatus::Lost, TrialStatus::Queued})
    EXPECT_TRUE(transition_allowed(TrialStatus::Running, to));
  for (auto from : {TrialStatus::Completed, TrialStatus::Failed, TrialStatus::Pruned, TrialStatus::Infeasible, TrialStatus::Lost})
    for (auto to : {TrialStatus::Queued, TrialStatus::Running, TrialStatus::Completed})
      EXPECT_FALSE(transition_allowed(from, to)) << to_string(from) << "->" << to_string(to);
}

TEST(TrialLifecycle, LostAttemptsAreRetriedThenTheTrialIsLost) {
  testing::ScratchDir dir;
  auto store = schema::Store::open_writer(dir / "db.sqlite");
  const auto spec = schema::parse_sweep_spec(
      R"({"name": "t", "seed": 5, "budget": {"trials": 1, "max_attempts": 2},
          "search_space": {"x": {"type": "float", "low": 0, "high": 1}},
          "trial": {"kind": "command", "command": ["true"]}})",
      "/tmp");
  schema::ExperimentRecord e;
  e.name = "t";
  e.spec_json = "{}";
  const auto eid = store.insert_experiment(e);
  TrialLifecycle trials(store, eid, spec);
  const auto n = trials.create({{"x", 0.5}}, 1.0);
  EXPECT_EQ(trials.trial(n).seed, trial_seed(5, 0));
  trials.start_next("w1", 2.0);
  EXPECT_TRUE(trials.holds(n, 1));
  trials.lose(n, "gone", 3.0);
  EXPECT_EQ(trials.trial(n).status, TrialStatus::Queued);
  EXPECT_EQ(trials.trial(n).attempt, 2);
  EXPECT_FALSE(trials.holds(n, 1));
  trials.start_next("w2", 4.0);
  trials.lose(n, "gone again", 5.0);
  EXPECT_EQ(trials.trial(n).status, TrialStatus::Lost);
  EXPECT_EQ(trials.count(TrialStatus::Lost), 1);
  EXPECT_THROW(trials.fail(n, TrialStatus::Failed, "late", 6.0), std::logic_error);

  const auto attempts = store.attempts(eid);
  ASSERT_EQ(attempts.size(), 2u);
  EXPECT_EQ(attempts[0].worker, "w1");
  EXPECT_EQ(attempts[1].worker, "w2");
  EXPECT_EQ(attempts[1].status, TrialStatus::Lost);

  TrialLifecycle reloaded(store, eid, spec);
  reloaded.load();
  EXPECT_EQ(reloaded.trial(0).status, TrialStatus::Lost);
  EXPECT_EQ(reloaded.observations()[0].status, search::ObservationStatus::Failed);
}

TEST(TrialSeed, DependsOnlyOnExperimentSeedAndNumber) {
  EXPECT_EQ(trial_seed(1, 7), trial_seed(1, 7));
  EXPECT_NE(trial_seed(1, 7), trial_seed(1, 8));
  EXPECT_NE(trial_seed(1, 7), trial_seed(2, 7));
  EXPECT_LT(trial_seed(~0ull, 123), 1ull << 63);
}

TEST(TrialLifecycle, PlacementStartsAnyQueuedTrialOrRulesItOut) {
  testing::ScratchDir dir;
  auto store = schema::Store::open_writer(dir / "db.sqlite");
  const auto spec = schema::parse_sweep_spec(
      R"({"name": "t", "budget": {"trials": 2}, "search_space": {"x": {"type": "float", "low": 0, "high": 1}},
          "trial": {"kind": "command", "command": ["true"]}})",
      "/tmp");
  schema::ExperimentRecord e;
  e.name = "t";
  e.spec_json = "{}";
  const auto eid = store.insert_experiment(e);
  TrialLifecycle trials(store, eid, spec);
  const auto big = trials.create({{"x", 0.1}}, 1.0);
  const auto small = trials.create({{"x", 0.2}}, 1.0);
  // The second trial goes first: the first waits for room.
  const nlohmann::json held{{"gpus", {"1"}}, {"memory_mb", 500}, {"cpus", 0}};
  trials.start(small, "w", 2.0, held);
  EXPECT_EQ(trials.queue(), std::deque<std::int64_t>{big});
  trials.reject_unplaceable(big, "needs 2 GPUs, the most a connected worker offers is 1 GPU", 3.0);
  EXPECT_TRUE(trials.queue().empty());
  EXPECT_EQ(trials.trial(big).status, TrialStatus::Infeasible);
  EXPECT_EQ(trials.observations()[0].status, search::ObservationStatus::Infeasible);
  EXPECT_THROW(trials.start(big, "w", 4.0), std::logic_error);

  const auto attempts = store.attempts(eid);
  ASSERT_EQ(attempts.size(), 1u);  // the ruled-out trial never had an attempt
  EXPECT_EQ(attempts[0].trial_number, small);
  EXPECT_EQ(attempts[0].resources, held);
  TrialLifecycle reloaded(store, eid, spec);
  reloaded.load();
  EXPECT_EQ(reloaded.trial(big).error, "needs 2 GPUs, the most a connected worker offers is 1 GPU");
}

}  // namespace
}  // namespace lorafarm::coordinator
