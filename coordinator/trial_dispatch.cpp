// Dispatch: keeps the queue filled from the sampler, assigns queued trials to
// workers (where they fit: trial_placement.cpp), and loses the trials of
// workers that went silent.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

#include "coordinator/coordinator_state.h"

namespace lorafarm::coordinator {

using nlohmann::json;

bool Coordinator::State::dispatch_blocked(double now) {
  if (stopping) return true;
  if (deadline) {
    if (now >= *deadline) {
      if (!deadline_reached) spdlog::info("deadline reached: no new trials; waiting for {} running", trials->running());
      deadline_reached = true;
      return true;
    }
    if (wall_samples > 0 && now + mean_wall > *deadline) return true;  // would not finish in time
  }
  return false;
}

// Queued trials from the sampler: takes a finished answer, and asks for
// as many new trials as free worker slots (plus a look-ahead when the
// sampler is slow against the trials) unless a request is running.
void Coordinator::State::refill_queue() {
  if (auto answer = sampler->take()) create_trials(*answer);
  if (!more_to_create() || sampler->busy()) return;
  const auto queued = static_cast<std::int64_t>(trials->queue().size());
  // Queued trials already count in the budget (trials->size()).
  std::int64_t n = std::min<std::int64_t>(leases.total_credit() + look_ahead() - queued, experiment.max_trials - trials->size());
  if (spec.budget.parallel > 0) n = std::min<std::int64_t>(n, spec.budget.parallel - trials->running() - queued);
  if (n <= 0) return;
  sampler->request(static_cast<int>(n), {trials->observations().begin(), trials->observations().end()});
  if (auto answer = sampler->take()) create_trials(*answer);  // a fast sampler answers at once
}

// Trials to keep queued beyond the free slots, so that workers do not wait
// for a slow sampler: as many as finish, across the connected workers,
// while it computes one answer (none while it is fast against the trials).
std::int64_t Coordinator::State::look_ahead() const {
  if (wall_samples == 0 || mean_wall <= 0 || last_suggest_seconds < 0.05 * mean_wall) return 0;
  std::int64_t connected = 0;
  for (const auto& [id, w] : leases.workers()) connected += w.connected ? 1 : 0;
  return std::min<std::int64_t>(connected, static_cast<std::int64_t>(std::ceil(connected * last_suggest_seconds / mean_wall)));
}

void Coordinator::State::create_trials(const SuggestionThread::Answer& answer) {
  last_suggest_seconds = answer.seconds;
  if (static_cast<int>(answer.suggestions.size()) < answer.requested) sampler_exhausted = true;
  const double wall = schema::unix_now();
  for (const auto& params : answer.suggestions) {
    if (trials->size() >= experiment.max_trials) break;  // the budget or deadline moved while it computed
    trials->create(params, wall);
  }
}

void Coordinator::State::dispatch(double now) {
  if (dispatch_blocked(now)) return;
  refill_queue();
  const int parallel = spec.budget.parallel;
  while (!(parallel > 0 && trials->running() >= parallel) && place_one(now)) {
  }
}

void Coordinator::State::expire_leases(double now) {
  const double wall = schema::unix_now();
  for (const auto& gone : leases.expire(now)) {
    routes.forget(gone.id);
    if (gone.connected || !gone.trials.empty())
      spdlog::warn("worker {} silent for more than {:.1f}s: {} trial(s) lost", gone.id, lease_timeout(), gone.trials.size());
    for (const auto& [trial, attempt] : gone.trials) {
      if (!trials->holds(trial, attempt)) continue;
      trials->lose(trial, "lease expired: worker " + gone.id + " went silent", wall);
      store.insert_event(experiment.id, trials->trial(trial).id, attempt, "LEASE_EXPIRED", {{"worker", gone.id}}, wall);
      discard_checkpoints_if_ended(trial);  // its last attempt
    }
    if (gone.connected) store.update_worker_status(gone.id, "LOST", wall);
  }
}

}  // namespace lorafarm::coordinator
