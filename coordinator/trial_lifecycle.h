// The one place that owns trial states and their transitions. Every change of
// a trial's status goes through here, is checked against the transition table
// and is written to the store (inside the coordinator's open transaction).
//
//   QUEUED  --start-->  RUNNING(worker, attempt k)
//   QUEUED  --fits no connected worker-->  INFEASIBLE (no attempt; never started)
//   RUNNING --result of attempt k-->  COMPLETED | INFEASIBLE
//   RUNNING --failure of attempt k--> FAILED | PRUNED | INFEASIBLE
//                                     (FAILED -> QUEUED(k+1) when retry_failed and attempts remain)
//   RUNNING --lease expired / worker gone--> QUEUED(k+1), or LOST when k == max_attempts
//   RUNNING --cancelled by the user--> QUEUED(k+1)
//
// Each attempt has its own row (attempts table) ending RUNNING -> one of
// COMPLETED, FAILED, PRUNED, INFEASIBLE, LOST, CANCELLED: the lineage.
#pragma once

#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "schema/store.h"
#include "schema/sweep_spec.h"
#include "search/sampler.h"

namespace lorafarm::coordinator {

using schema::TrialStatus;

// Whether `from -> to` is a legal trial transition.
bool transition_allowed(TrialStatus from, TrialStatus to);

class TrialLifecycle {
 public:
  TrialLifecycle(schema::Store& store, std::int64_t experiment_id, const schema::SweepSpec& spec);

  // Loads the experiment's trials (resume). QUEUED trials go back on the queue;
  // RUNNING ones stay RUNNING, for the coordinator to lease or lose.
  void load();

  std::int64_t size() const { return static_cast<std::int64_t>(trials_.size()); }
  const schema::TrialRecord& trial(std::int64_t number) const { return trials_.at(static_cast<std::size_t>(number)); }
  std::span<const search::Observation> observations() const { return observations_; }
  // Queued trial numbers, oldest first.
  const std::deque<std::int64_t>& queue() const { return queue_; }

  // Creates trial number size() with `params`, QUEUED. Returns its number.
  std::int64_t create(const search::Params& params, double now);
  // Pops the oldest queued trial and leases it to `worker` as a new attempt.
  std::int64_t start_next(std::string_view worker, double now);
  // Takes queued trial `number` off the queue and leases it to `worker` as a
  // new attempt holding `resources` (schema::Allocation JSON, recorded with it).
  void start(std::int64_t number, std::string_view worker, double now, const nlohmann::json& resources = nullptr);
  // A queued trial no worker can hold ends INFEASIBLE with `reason`, never started.
  void reject_unplaceable(std::int64_t number, std::string_view reason, double now);

  // Whether (number, attempt) is the attempt currently running.
  bool holds(std::int64_t number, int attempt) const;

  // The running attempt produced its result. `feasible` false -> INFEASIBLE.
  void complete(std::int64_t number, const schema::ResultRecord& result, double objective, bool feasible, double now);
  // The running attempt ended without a result. `status` is FAILED, PRUNED or INFEASIBLE.
  void fail(std::int64_t number, TrialStatus status, std::string_view cause, double now);
  // The running attempt's worker vanished (or disowned it).
  void lose(std::int64_t number, std::string_view cause, double now);
  // The user cancelled the running attempt; the trial is queued again.
  void cancel(std::int64_t number, double now);

  void add_intermediate(std::int64_t number, std::int64_t step, double value);

  std::int64_t count(TrialStatus status) const;
  std::int64_t running() const { return count(TrialStatus::Running); }

 private:
  schema::TrialRecord& mutable_trial(std::int64_t number);
  void set_status(schema::TrialRecord& trial, TrialStatus to);
  void end_attempt(schema::TrialRecord& trial, TrialStatus attempt_status, std::string_view cause, double now);
  void requeue(schema::TrialRecord& trial, std::string_view cause, double now);
  // Rebuilds the sampler's view of `trial`. `result_metrics`: the trial's
  // result, where a multi-objective sweep's further objectives are read.
  void sync_observation(const schema::TrialRecord& trial, const nlohmann::json* result_metrics = nullptr);

  schema::Store& store_;
  std::int64_t experiment_id_;
  const schema::SweepSpec& spec_;
  std::vector<schema::TrialRecord> trials_;  // index == trial number
  std::vector<search::Observation> observations_;
  std::deque<std::int64_t> queue_;
  std::vector<std::int64_t> counts_;  // per TrialStatus
};

// The seed of trial `number`: derived from the experiment seed and the number
// only, so a trial can be re-run from the database alone.
std::uint64_t trial_seed(std::uint64_t experiment_seed, std::int64_t number);

}  // namespace lorafarm::coordinator
