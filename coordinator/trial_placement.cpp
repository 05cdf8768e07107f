// Placement of queued trials: each goes to a worker with credit where its
// devices, memory and cores fit beside what that worker already runs; a trial
// that exceeds every connected worker's whole offer ends INFEASIBLE (once the
// first worker has been connected for `infeasible_after_seconds`, so workers
// that start a little later still count). coordinator/placement.h has the rules.
#include <spdlog/spdlog.h>

#include "coordinator/assignment.h"
#include "coordinator/coordinator_state.h"
#include "coordinator/placement.h"

namespace lorafarm::coordinator {

using nlohmann::json;

// Starts, or rules out, the oldest queued trial that can be decided now.
// False when no queued trial can be started or ruled out.
bool Coordinator::State::place_one(double now) {
  if (trials->queue().empty()) refill_queue();
  const std::vector<std::int64_t> queued(trials->queue().begin(), trials->queue().end());
  for (const auto number : queued) {
    const auto& need = need_of(number);
    if (const auto reason = unplaceable(need, now)) {
      spdlog::warn("trial {} is infeasible: {}", number, *reason);
      trials->reject_unplaceable(number, *reason, schema::unix_now());
      store.insert_event(experiment.id, trials->trial(number).id, std::nullopt, "UNPLACEABLE", {{"reason", *reason}}, schema::unix_now());
      return true;
    }
    if (need.error.empty())
      if (auto spot = find_place(need)) {
        start_on(number, *spot->first, spot->second);
        return true;
      }
  }
  return false;
}

// The trial's resolved request; for engine trials the memory is at least the
// engine's predicted peak.
const Coordinator::State::TrialNeed& Coordinator::State::need_of(std::int64_t number) {
  if (const auto it = needs.find(number); it != needs.end()) return it->second;
  TrialNeed need;
  const auto& params = trials->trial(number).params;
  try {
    need.amounts = schema::resolve_resources(spec.trial.resources, params);
  } catch (const std::invalid_argument& e) {
    need.error = e.what();
  }
  if (spec.trial.kind == schema::TrialKind::Engine) {
    // The worker's merge: a parameter overrides a fixed setting.
    const json& batch = params.contains("batch_size") ? params["batch_size"] : spec.fixed.value("batch_size", json());
    need.grows = batch == "auto";
  }
  if (spec.trial.kind == schema::TrialKind::Engine && options.predict_peak_mb) {
    try {
      const auto predicted = options.predict_peak_mb(params);
      if (predicted && *predicted > need.amounts.memory_mb) {
        need.amounts.memory_mb = *predicted;
        need.memory_note = ", predicted by the engine";
      }
    } catch (const std::exception& e) {
      spdlog::warn("trial {}: no memory prediction: {}", number, e.what());
    }
  }
  return needs.emplace(number, std::move(need)).first->second;
}

// The connected worker with credit and room for `need` (the most credit
// first, which spreads trials over workers), with what the trial would hold.
std::optional<std::pair<WorkerLease*, schema::Allocation>> Coordinator::State::find_place(const TrialNeed& need) {
  std::optional<std::pair<WorkerLease*, schema::Allocation>> best;
  for (auto& [id, w] : leases.workers()) {
    auto& lease = const_cast<WorkerLease&>(w);
    if (!lease.connected || lease.credit <= 0) continue;
    if (best && lease.credit <= best->first->credit) continue;
    const auto held = held_by(lease);
    auto allocation = place(need.amounts, lease.offer, held);
    if (!allocation) continue;
    if (need.grows) grow_into_share(*allocation, lease.offer, held, lease.credit);
    best.emplace(&lease, std::move(*allocation));
  }
  return best;
}

// Why the trial can never run on the workers connected now, once that may be judged.
std::optional<std::string> Coordinator::State::unplaceable(const TrialNeed& need, double now) const {
  if (!need.error.empty()) return need.error;
  const double wait = options.infeasible_after_seconds > 0 ? options.infeasible_after_seconds : 2 * lease_timeout();
  if (!first_worker_at || now - *first_worker_at < wait) return std::nullopt;
  std::vector<std::pair<std::string, schema::WorkerOffer>> connected;
  for (const auto& [id, w] : leases.workers()) {
    if (!w.connected) continue;
    if (!exceeds(need.amounts, w.offer)) return std::nullopt;
    connected.emplace_back(id, w.offer);
  }
  if (connected.empty()) return std::nullopt;
  return unplaceable_reason(need.amounts, connected, need.memory_note);
}

std::vector<schema::Allocation> Coordinator::State::held_by(const WorkerLease& worker) const {
  std::vector<schema::Allocation> held;
  for (const auto& [trial, attempt] : worker.trials)
    if (const auto it = allocations.find(trial); it != allocations.end()) held.push_back(it->second);
  return held;
}

void Coordinator::State::start_on(std::int64_t number, WorkerLease& worker, const schema::Allocation& allocation) {
  const json resources = allocation.to_json();
  trials->start(number, worker.id, schema::unix_now(), resources);
  const auto& t = trials->trial(number);
  allocations[number] = allocation;
  leases.grant(worker.id, number, t.attempt);
  worker.credit -= 1;
  json body = assignment(spec, t);
  body["resources"] = resources;
  if (json resume = resume_for(number, t.attempt, worker.id); !resume.is_null()) body["resume"] = std::move(resume);
  send(worker.id, MessageType::Assign, std::move(body));
}

// After a coordinator restart: what each running attempt holds, from the store.
void Coordinator::State::restore_allocations() {
  for (const auto& a : store.attempts(experiment.id)) {
    if (a.resources.is_null() || !trials->holds(a.trial_number, a.attempt)) continue;
    allocations[a.trial_number] = schema::Allocation::from_json(a.resources);
  }
}

}  // namespace lorafarm::coordinator
