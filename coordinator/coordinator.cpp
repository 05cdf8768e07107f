// The coordinator's event loop: receive, apply (one transaction), commit, send.
// The steps live by concept in the files coordinator_state.h lists.
#include "coordinator/coordinator.h"

#include <spdlog/spdlog.h>

#include <array>

#include "coordinator/coordinator_state.h"

namespace lorafarm::coordinator {

using nlohmann::json;

void Coordinator::State::check_signals(double now) {
  if (!options.interrupts) return;
  const int n = options.interrupts->load();
  if (n >= 1 && !stopping) {
    stopping = true;
    spdlog::warn("interrupted: no new trials; waiting for {} running (interrupt again to cancel them)", trials->running());
  }
  if (n >= 2 && !cancelling) {
    cancelling = true;
    cancel_deadline = now + options.cancel_grace_seconds;
    spdlog::warn("cancelling {} running trial(s)", trials->running());
    for (const auto& [id, w] : leases.workers())
      for (const auto& [trial, attempt] : w.trials) send(id, MessageType::Cancel, {{"trial", trial}, {"attempt", attempt}, {"reason", "interrupted"}});
  }
}

bool Coordinator::State::done() const {
  if (trials->running() > 0) return false;
  if (stopping || deadline_reached) return true;
  return trials->queue().empty() && !more_to_create();
}

ProgressSnapshot Coordinator::State::snapshot(double now) const {
  ProgressSnapshot p;
  p.budget = experiment.max_trials;
  p.created = trials->size();
  p.completed = trials->count(schema::TrialStatus::Completed);
  p.failed = trials->count(schema::TrialStatus::Failed) + trials->count(schema::TrialStatus::Lost) + trials->count(schema::TrialStatus::Infeasible);
  p.pruned = trials->count(schema::TrialStatus::Pruned);
  p.running = trials->running();
  p.queued = static_cast<std::int64_t>(trials->queue().size());
  for (const auto& [id, w] : leases.workers()) p.workers += w.connected ? 1 : 0;
  for (std::int64_t n = 0; n < trials->size(); ++n) {
    const auto& t = trials->trial(n);
    if (t.status != schema::TrialStatus::Completed || !t.objective) continue;
    if (!p.best || spec.objective.minimised(*t.objective) < spec.objective.minimised(*p.best)) p.best = t.objective;
  }
  p.elapsed_seconds = now - started;
  p.stopping = stopping || deadline_reached;
  return p;
}

RunOutcome Coordinator::State::run() {
  spdlog::info("{} trial(s) in the budget, {} already created; sampler {}", experiment.max_trials, trials->size(), sampler->name());
  std::array<zmq::pollitem_t, 1> items{{{socket.handle(), 0, ZMQ_POLLIN, 0}}};
  while (true) {
    double now = steady_now();
    check_signals(now);
    if ((done() && !awaiting_artifacts(now)) || (cancelling && now > cancel_deadline)) break;
    try {
      // Shorter while the sampler computes on its thread, to pick up its answer soon.
      zmq::poll(items.data(), items.size(), std::chrono::milliseconds(sampler->busy() ? 2 : 50));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;  // a signal: handled at the top of the loop
    }
    now = steady_now();
    receive_batch(now);
    store.begin();
    dispatch(now);
    if (now - last_expiry > 0.1) {
      expire_leases(now);
      last_expiry = now;
    }
    store.commit();
    flush();
    if (now - last_heartbeat >= options.heartbeat_ms / 1000.0) {
      for (const auto& [id, w] : leases.workers())
        if (w.connected) send(id, MessageType::Heartbeat, json::object());
      flush();
      last_heartbeat = now;
    }
    if (options.on_progress && now - last_progress > 0.2) {
      options.on_progress(snapshot(now));
      last_progress = now;
    }
  }
  return finish();
}

RunOutcome Coordinator::State::finish() {
  const double now = steady_now();
  if (options.on_progress) options.on_progress(snapshot(now));
  RunOutcome outcome;
  outcome.experiment_id = experiment.id;
  outcome.interrupted = stopping;
  outcome.deadline_reached = deadline_reached;
  outcome.dropped_messages = dropped;
  std::int64_t final_count = 0;
  for (std::int64_t n = 0; n < trials->size(); ++n) final_count += schema::is_final(trials->trial(n).status) ? 1 : 0;
  outcome.finished = final_count == trials->size() && !more_to_create();
  const double wall = schema::unix_now();
  store.begin();
  store.update_experiment_status(experiment.id, outcome.finished ? "FINISHED" : "INTERRUPTED", wall);
  store.insert_event(experiment.id, std::nullopt, std::nullopt, outcome.finished ? "FINISHED" : "STOPPED",
                     {{"interrupted", outcome.interrupted}, {"deadline_reached", outcome.deadline_reached}, {"dropped_messages", dropped}}, wall);
  store.commit();
  for (const auto& [id, w] : leases.workers())
    if (w.connected) send(id, MessageType::Shutdown, {{"reason", outcome.finished ? "sweep finished" : "sweep stopped"}});
  flush();
  return outcome;
}

Coordinator::Coordinator(schema::SweepSpec spec, CoordinatorOptions options)
    : state_(std::make_unique<State>(std::move(spec), std::move(options))) {
  state_->open_experiment();
  state_->restore_pending_artifacts();
  state_->restore_checkpoints();
  state_->bind();
}

Coordinator::~Coordinator() = default;

std::string Coordinator::endpoint() const { return state_->endpoint; }
std::int64_t Coordinator::experiment_id() const { return state_->experiment.id; }
bool Coordinator::resumed() const { return state_->resumed; }
// Transfers of finished trials' files count: a restart resumes them.
bool Coordinator::has_work() const { return !state_->done() || state_->transfers->size() > 0; }
RunOutcome Coordinator::run() { return state_->run(); }

}  // namespace lorafarm::coordinator
