// Trial state machine (see the header for the diagram).
#include "coordinator/trial_lifecycle.h"

#include <algorithm>
#include <optional>
#include <stdexcept>

namespace lorafarm::coordinator {
namespace {
std::size_t index(TrialStatus s) { return static_cast<std::size_t>(s); }
constexpr std::size_t kStatusCount = static_cast<std::size_t>(TrialStatus::Stale) + 1;

search::ObservationStatus observation_status(TrialStatus s) {
  switch (s) {
    case TrialStatus::Completed: return search::ObservationStatus::Completed;
    case TrialStatus::Failed:
    case TrialStatus::Lost: return search::ObservationStatus::Failed;
    case TrialStatus::Pruned: return search::ObservationStatus::Pruned;
    case TrialStatus::Infeasible: return search::ObservationStatus::Infeasible;
    default: return search::ObservationStatus::Running;
  }
}
}  // namespace

std::uint64_t trial_seed(std::uint64_t experiment_seed, std::int64_t number) {
  return search::mix_seed(experiment_seed, static_cast<std::uint64_t>(number)) >> 1;  // 63 bits: fits SQLite INTEGER
}

bool transition_allowed(TrialStatus from, TrialStatus to) {
  switch (from) {
    case TrialStatus::Queued: return to == TrialStatus::Running || to == TrialStatus::Infeasible;
    case TrialStatus::Running:
      return to == TrialStatus::Completed || to == TrialStatus::Failed || to == TrialStatus::Pruned || to == TrialStatus::Infeasible ||
             to == TrialStatus::Lost || to == TrialStatus::Queued;
    default: return false;  // final states are final
  }
}

TrialLifecycle::TrialLifecycle(schema::Store& store, std::int64_t experiment_id, const schema::SweepSpec& spec)
    : store_(store), experiment_id_(experiment_id), spec_(spec), counts_(kStatusCount, 0) {}

void TrialLifecycle::load() {
  trials_ = store_.trials(experiment_id_);
  observations_.clear();
  queue_.clear();
  counts_.assign(kStatusCount, 0);
  for (std::size_t i = 0; i < trials_.size(); ++i) {
    if (trials_[i].number != static_cast<std::int64_t>(i))
      throw std::runtime_error("trial numbers of experiment " + std::to_string(experiment_id_) + " are not dense at " + std::to_string(i));
    observations_.push_back({trials_[i].number, trials_[i].params, search::ObservationStatus::Running, {}, {}, {}});
    std::optional<schema::ResultRecord> result;
    if (!spec_.more_objectives.empty() && trials_[i].objective) result = store_.result(trials_[i].id);
    sync_observation(trials_[i], result ? &result->metrics : nullptr);
    ++counts_[index(trials_[i].status)];
    if (trials_[i].status == TrialStatus::Queued) queue_.push_back(trials_[i].number);
  }
  // Learning curves of the objective, for samplers and schedulers that use them.
  for (auto& trial : trials_) {
    if (trial.status != TrialStatus::Running && trial.status != TrialStatus::Completed) continue;
    for (const auto& m : store_.metrics(trial.id)) {
      if (m.name == spec_.objective.metric && m.value && m.attempt == trial.attempt) add_intermediate(trial.number, m.step, *m.value);
    }
  }
}

schema::TrialRecord& TrialLifecycle::mutable_trial(std::int64_t number) { return trials_.at(static_cast<std::size_t>(number)); }

void TrialLifecycle::set_status(schema::TrialRecord& trial, TrialStatus to) {
  if (!transition_allowed(trial.status, to)) {
    throw std::logic_error("trial " + std::to_string(trial.number) + ": illegal transition " + std::string(to_string(trial.status)) + " -> " +
                           std::string(to_string(to)));
  }
  --counts_[index(trial.status)];
  ++counts_[index(to)];
  trial.status = to;
}

void TrialLifecycle::sync_observation(const schema::TrialRecord& trial, const nlohmann::json* result_metrics) {
  auto& o = observations_.at(static_cast<std::size_t>(trial.number));
  o.status = observation_status(trial.status);
  o.objectives.clear();
  if (!trial.objective) return;
  o.objectives.push_back(spec_.objective.minimised(*trial.objective));
  if (spec_.more_objectives.empty()) return;
  // All objectives or none: samplers compare whole vectors.
  for (const auto& more : spec_.more_objectives) {
    const auto it = result_metrics ? result_metrics->find(more.metric) : nlohmann::json::const_iterator{};
    if (!result_metrics || it == result_metrics->end() || !it->is_number()) {
      o.objectives.clear();
      return;
    }
    o.objectives.push_back(more.minimised(it->get<double>()));
  }
}

std::int64_t TrialLifecycle::create(const search::Params& params, double now) {
  schema::TrialRecord t;
  t.experiment_id = experiment_id_;
  t.number = size();
  t.params = params;
  t.seed = trial_seed(spec_.seed, t.number);
  t.status = TrialStatus::Queued;
  t.attempt = 1;
  t.created_at = now;
  t.id = store_.insert_trial(t);
  trials_.push_back(t);
  observations_.push_back({t.number, params, search::ObservationStatus::Running, {}, {}, {}});
  ++counts_[index(TrialStatus::Queued)];
  queue_.push_back(t.number);
  return t.number;
}

std::int64_t TrialLifecycle::start_next(std::string_view worker, double now) {
  if (queue_.empty()) throw std::logic_error("start_next with an empty queue");
  const auto number = queue_.front();
  start(number, worker, now);
  return number;
}

void TrialLifecycle::start(std::int64_t number, std::string_view worker, double now, const nlohmann::json& resources) {
  const auto it = std::find(queue_.begin(), queue_.end(), number);
  if (it == queue_.end()) throw std::logic_error("trial " + std::to_string(number) + " is not queued");
  queue_.erase(it);
  auto& t = mutable_trial(number);
  set_status(t, TrialStatus::Running);
  t.worker = std::string(worker);
  t.started_at = now;
  t.finished_at.reset();
  t.error.clear();
  store_.update_trial(t);
  store_.insert_attempt({t.id, t.number, t.attempt, t.worker, TrialStatus::Running, "", now, std::nullopt, resources});
}

void TrialLifecycle::reject_unplaceable(std::int64_t number, std::string_view reason, double now) {
  const auto it = std::find(queue_.begin(), queue_.end(), number);
  if (it == queue_.end()) throw std::logic_error("trial " + std::to_string(number) + " is not queued");
  queue_.erase(it);
  auto& t = mutable_trial(number);
  set_status(t, TrialStatus::Infeasible);
  t.finished_at = now;
  t.error = std::string(reason);
  store_.update_trial(t);
  sync_observation(t);
}

bool TrialLifecycle::holds(std::int64_t number, int attempt) const {
  if (number < 0 || number >= size()) return false;
  const auto& t = trial(number);
  return t.status == TrialStatus::Running && t.attempt == attempt;
}

void TrialLifecycle::end_attempt(schema::TrialRecord& trial, TrialStatus attempt_status, std::string_view cause, double now) {
  store_.finish_attempt(trial.id, trial.attempt, attempt_status, cause, now);
}

void TrialLifecycle::complete(std::int64_t number, const schema::ResultRecord& result, double objective, bool feasible, double now) {
  auto& t = mutable_trial(number);
  const auto to = feasible ? TrialStatus::Completed : TrialStatus::Infeasible;
  set_status(t, to);
  t.objective = objective;
  t.finished_at = now;
  if (!feasible) t.error = "constraint violated";
  store_.update_trial(t);
  end_attempt(t, to, feasible ? "" : "constraint violated", now);
  store_.insert_result(result);
  sync_observation(t, &result.metrics);
}

void TrialLifecycle::fail(std::int64_t number, TrialStatus status, std::string_view cause, double now) {
  auto& t = mutable_trial(number);
  if (status != TrialStatus::Failed && status != TrialStatus::Pruned && status != TrialStatus::Infeasible)
    throw std::logic_error("fail() with status " + std::string(to_string(status)));
  if (status == TrialStatus::Failed && spec_.budget.retry_failed && t.attempt < spec_.budget.max_attempts) {
    end_attempt(t, TrialStatus::Failed, cause, now);
    requeue(t, cause, now);
    return;
  }
  set_status(t, status);
  t.finished_at = now;
  t.error = std::string(cause);
  store_.update_trial(t);
  end_attempt(t, status, cause, now);
  sync_observation(t);
}

void TrialLifecycle::requeue(schema::TrialRecord& t, std::string_view cause, double now) {
  set_status(t, TrialStatus::Queued);
  t.attempt += 1;
  t.worker.clear();
  t.error = std::string(cause);
  store_.update_trial(t);
  observations_.at(static_cast<std::size_t>(t.number)).intermediate.clear();
  queue_.push_front(t.number);  // retries go first: they are the oldest work
}

void TrialLifecycle::lose(std::int64_t number, std::string_view cause, double now) {
  auto& t = mutable_trial(number);
  end_attempt(t, TrialStatus::Lost, cause, now);
  if (t.attempt < spec_.budget.max_attempts) {
    requeue(t, cause, now);
    return;
  }
  set_status(t, TrialStatus::Lost);
  t.finished_at = now;
  t.error = std::string(cause) + " (attempt " + std::to_string(t.attempt) + " of " + std::to_string(spec_.budget.max_attempts) + ")";
  store_.update_trial(t);
  sync_observation(t);
}

void TrialLifecycle::cancel(std::int64_t number, double now) {
  auto& t = mutable_trial(number);
  end_attempt(t, TrialStatus::Cancelled, "cancelled", now);
  requeue(t, "cancelled", now);
}

void TrialLifecycle::add_intermediate(std::int64_t number, std::int64_t step, double value) {
  observations_.at(static_cast<std::size_t>(number)).intermediate.push_back({step, spec_.objective.minimised(value)});
}

std::int64_t TrialLifecycle::count(TrialStatus status) const { return counts_[index(status)]; }

}  // namespace lorafarm::coordinator
