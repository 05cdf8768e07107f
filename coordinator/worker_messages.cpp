// A worker's messages: HELLO (admission and reconciliation of what it holds),
// REQUEST, HEARTBEAT and PROGRESS (learning curves and ASHA's stop decisions).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

#include "coordinator/coordinator_state.h"
#include "schema/trial_metric.h"

namespace lorafarm::coordinator {

using nlohmann::json;

void Coordinator::State::handle(const std::string& route, const Message& m, double now) {
  if (m.type == MessageType::Hello) return on_hello(route, m.body, now);
  const std::string worker = routes.worker_of(route);
  auto* lease = leases.find(worker);
  if (!lease || !lease->connected) {
    if (m.type == MessageType::Result || m.type == MessageType::Failed || m.type == MessageType::Heartbeat ||
        m.type == MessageType::Progress || m.type == MessageType::Request || m.type == MessageType::Upload ||
        m.type == MessageType::Checkpoint || m.type == MessageType::Download) {
      send(worker, MessageType::Reject, {{"reason", "unknown worker: say HELLO first"}, {"rehello", true}});
    } else {
      drop(worker, std::string("unexpected ") + std::string(to_string(m.type)) + " before HELLO");
    }
    return;
  }
  leases.heard(worker, now);
  switch (m.type) {
    case MessageType::Request:
      // Capped by the slots its held trials leave free: a worker that said
      // HELLO twice before the first WELCOME arrived asks twice for the same slots.
      lease->credit = std::min(lease->slots - static_cast<int>(lease->trials.size()), lease->credit + m.body["slots"].get<int>());
      return;
    case MessageType::Heartbeat: return on_heartbeat(worker, m.body);
    case MessageType::Progress: return on_progress(worker, m.body);
    case MessageType::Result: return on_result(worker, m.body, now);
    case MessageType::Failed: return on_failed(worker, m.body, now);
    case MessageType::Upload: return on_upload(worker, m.body);
    case MessageType::Checkpoint: return on_checkpoint(worker, m.body);
    case MessageType::Download: return on_download(worker, m.body);
    default: drop(worker, std::string("a worker may not send ") + std::string(to_string(m.type)));
  }
}

void Coordinator::State::on_hello(const std::string& route, const json& body, double now) {
  if (!hello_bucket.take(now)) return drop(route, "HELLO rate limit exceeded; the worker will say HELLO again");
  const std::string worker = body["worker_id"].get<std::string>();
  if (!admit_hello(route, worker)) return;
  routes.bind(route, worker);
  const double wall = schema::unix_now();
  auto& lease = leases.worker(worker);
  const bool known = lease.connected;
  lease.connected = true;
  lease.slots = body["slots"].get<int>();
  lease.credit = 0;  // the worker follows WELCOME with a REQUEST for its free slots
  lease.last_heard = now;
  lease.offer = schema::WorkerOffer::from_json(body.value("resources", json::object()));
  if (!first_worker_at) first_worker_at = now;
  store.upsert_worker({worker, body["host"].get<std::string>(), lease.slots, body["version"].get<std::string>(),
                       body.value("capabilities", json::array()), body.value("pid", std::int64_t{0}), wall, wall, "CONNECTED",
                       lease.offer.to_json()});

  std::map<std::int64_t, int> claimed;
  for (const auto& ref : body.value("running", json::array())) claimed[ref["trial"].get<std::int64_t>()] = ref["attempt"].get<int>();
  const json cancel = reconcile_claims(worker, lease, claimed, wall);
  spdlog::info("worker {} {} ({} slots, offers {}, {} trials kept, {} cancelled)", worker, known ? "reconnected" : "joined", lease.slots,
               lease.offer.to_json().dump(), claimed.size() - cancel.size(), cancel.size());
  send(worker, MessageType::Welcome,
       {{"experiment", spec.name}, {"heartbeat_ms", options.heartbeat_ms}, {"liveness", options.liveness}, {"cancel", cancel}});
  send_fetches(worker);  // transfers it owes resume from where the store stands
}

// Whether a HELLO may bind its route to `worker`; rejects it otherwise.
bool Coordinator::State::admit_hello(const std::string& route, const std::string& worker) {
  if (!PeerRoutes::speaks_for(route, worker)) {
    drop(route, "HELLO worker_id differs from the socket identity");
    send(route, MessageType::Reject, {{"reason", "the socket routing id must be the worker_id, or the worker_id followed by '~'"}});
    return false;
  }
  if (!leases.find(worker) && connected_workers() >= kMaxWorkers) {
    drop(worker, "too many workers");
    send(route, MessageType::Reject, {{"reason", "the coordinator already has " + std::to_string(kMaxWorkers) + " workers"}});
    return false;
  }
  return true;
}

// Reconciles what a (re)connecting worker says it holds with what we leased to
// it: leases it no longer holds are lost, claims we cannot honour come back as
// the list of trials the WELCOME tells it to cancel.
json Coordinator::State::reconcile_claims(const std::string& worker, WorkerLease& lease,
                                          const std::map<std::int64_t, int>& claimed, double wall) {
  json cancel = json::array();
  const auto held = lease.trials;  // copy: lose() below edits the table
  for (const auto& [trial, attempt] : held) {
    const auto it = claimed.find(trial);
    if (it != claimed.end() && it->second == attempt) continue;
    leases.release(trial);
    if (trials->holds(trial, attempt)) {
      trials->lose(trial, "worker " + worker + " restarted without it", wall);
      store.insert_event(experiment.id, trials->trial(trial).id, attempt, "DISOWNED", {{"worker", worker}}, wall);
      discard_checkpoints_if_ended(trial);
    }
  }
  for (const auto& [trial, attempt] : claimed) {
    const auto holder = leases.holder(trial);
    const bool ours = trials->holds(trial, attempt) && (!holder || *holder == worker);
    if (ours) {
      leases.grant(worker, trial, attempt);
    } else {
      cancel.push_back({{"trial", trial}, {"attempt", attempt}});
    }
  }
  return cancel;
}

void Coordinator::State::on_heartbeat(const std::string& worker, const json& body) {
  for (const auto& ref : body.value("running", json::array())) {
    const auto trial = ref["trial"].get<std::int64_t>();
    const int attempt = ref["attempt"].get<int>();
    const auto holder = leases.holder(trial);
    if (trials->holds(trial, attempt) && holder && *holder == worker) continue;
    send(worker, MessageType::Cancel, {{"trial", trial}, {"attempt", attempt}, {"reason", "no lease"}});
  }
}

bool Coordinator::State::owns(const std::string& worker, std::int64_t trial, int attempt) const {
  const auto holder = leases.holder(trial);
  return holder && *holder == worker && trials->holds(trial, attempt);
}

void Coordinator::State::on_progress(const std::string& worker, const json& body) {
  const auto trial = body["trial"].get<std::int64_t>();
  const int attempt = body["attempt"].get<int>();
  if (!owns(worker, trial, attempt)) {
    send(worker, MessageType::Cancel, {{"trial", trial}, {"attempt", attempt}, {"reason", "no lease"}});
    return;
  }
  const auto step = body["step"].get<std::int64_t>();
  const auto id = trials->trial(trial).id;
  for (const auto& [name, value] : body["metrics"].items()) {
    const std::optional<double> v = value.is_number() ? std::optional<double>(value.get<double>()) : std::nullopt;
    store.insert_metric(id, attempt, step, name, v);
    if (name == spec.objective.metric && v) trials->add_intermediate(trial, step, *v);
  }
  const auto key = std::make_pair(trial, attempt);
  bool stop = stop_sent.count(key) > 0;
  const auto judged = schema::reported_metric(scheduler->metric(), body["metrics"]);
  if (!stop && scheduler->enabled() && judged) {
    const auto decision = scheduler->report(trial, step, *judged);
    if (decision.stop) {
      stop = true;
      stop_sent.insert(key);
      store.insert_event(experiment.id, id, attempt, "SCHEDULER_STOP", {{"worker", worker}, {"step", step}, {"reason", decision.reason}},
                         schema::unix_now());
      spdlog::info("trial {} stopped: {}", trial, decision.reason);
    }
  }
  send(worker, stop ? MessageType::Stop : MessageType::Continue, {{"trial", trial}, {"attempt", attempt}});
}

std::size_t Coordinator::State::connected_workers() const {
  return static_cast<std::size_t>(std::count_if(leases.workers().begin(), leases.workers().end(), [](const auto& w) { return w.second.connected; }));
}

}  // namespace lorafarm::coordinator
