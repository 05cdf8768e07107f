// The coordinator's event loop: receive, apply (one transaction), commit, send.
#include "coordinator/coordinator.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <set>
#include <thread>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "coordinator/assignment.h"
#include "coordinator/curve_authenticator.h"
#include "coordinator/early_stopping.h"
#include "coordinator/lease_table.h"
#include "coordinator/peer_routes.h"
#include "coordinator/rank_selection.h"
#include "coordinator/sampler_factory.h"
#include "coordinator/suggestion_thread.h"
#include "coordinator/token_bucket.h"
#include "coordinator/trial_lifecycle.h"
#include "lorafarm/version.h"
#include "schema/messages.h"
#include "schema/trial_metric.h"

namespace lorafarm::coordinator {

using nlohmann::json;
using schema::Message;
using schema::MessageType;

namespace {

double steady_now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

std::string host_name() {
  char buffer[256] = {};
  ::gethostname(buffer, sizeof buffer - 1);
  return buffer;
}

// Limits that keep a misbehaving peer from exhausting the coordinator (docs/security.md).
constexpr double kHelloRatePerSecond = 50;  // all peers together; a restart's reconnect storm fits the burst
constexpr double kHelloBurst = 500;
constexpr std::size_t kMaxWorkers = 4096;   // distinct worker ids with a live connection
constexpr int kReceiveQueuePerPeer = 1000;  // messages; each at most kMaxBodyBytes

bool loopback_endpoint(const std::string& endpoint) {
  if (endpoint.rfind("ipc://", 0) == 0 || endpoint.rfind("inproc://", 0) == 0) return true;
  for (const char* prefix : {"tcp://127.", "tcp://localhost:", "tcp://[::1]:"})
    if (endpoint.rfind(prefix, 0) == 0) return true;
  return false;
}

// Seconds from now until the deadline the budget sets, if any.
std::optional<double> seconds_to_deadline(const schema::Budget& budget) {
  if (budget.deadline_hours) return *budget.deadline_hours * 3600.0;
  if (!budget.deadline_clock) return std::nullopt;
  const int hh = std::stoi(budget.deadline_clock->substr(0, budget.deadline_clock->find(':')));
  const int mm = std::stoi(budget.deadline_clock->substr(budget.deadline_clock->find(':') + 1));
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  ::localtime_r(&now, &local);
  std::tm target = local;
  target.tm_hour = hh;
  target.tm_min = mm;
  target.tm_sec = 0;
  std::time_t when = std::mktime(&target);
  if (when <= now) when += 24 * 3600;
  return static_cast<double>(when - now);
}

std::optional<double> optional_number(const json& body, const char* key) {
  const auto it = body.find(key);
  if (it == body.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

// A number of a message body, or JSON null when the worker did not know it.
json optional_json(const json& body, const char* key) {
  const auto it = body.find(key);
  return it != body.end() && it->is_number() ? *it : json();
}

}  // namespace

struct Coordinator::State {
  schema::SweepSpec spec;
  CoordinatorOptions options;
  schema::Store store;
  schema::ExperimentRecord experiment;
  bool resumed = false;
  std::unique_ptr<TrialLifecycle> trials;
  std::unique_ptr<SuggestionThread> sampler;
  double last_suggest_seconds = 0;  // how long the sampler's last answer took
  std::unique_ptr<EarlyStopping> scheduler;
  std::set<std::pair<std::int64_t, int>> stop_sent;  // (trial, attempt) told to stop
  LeaseTable leases;
  PeerRoutes routes;  // connection routing id <-> worker id
  TokenBucket hello_bucket{kHelloRatePerSecond, kHelloBurst};
  zmq::context_t context{1};
  zmq::socket_t socket{context, zmq::socket_type::router};
  std::unique_ptr<CurveAuthenticator> authenticator;  // with CURVE only
  std::string endpoint;
  std::vector<std::pair<std::string, Message>> outbox;

  double started = steady_now();
  std::optional<double> deadline;  // steady seconds
  double mean_wall = 0;            // moving average of completed attempts' wall time
  int wall_samples = 0;
  bool sampler_exhausted = false;
  bool stopping = false;
  bool cancelling = false;
  bool deadline_reached = false;
  double cancel_deadline = 0;
  std::int64_t dropped = 0;
  std::int64_t warnings_logged = 0;
  double last_heartbeat = 0;
  double last_progress = 0;
  double last_expiry = 0;

  State(schema::SweepSpec s, CoordinatorOptions o)
      : spec(std::move(s)),
        options(std::move(o)),
        store(schema::Store::open_writer(options.db_path, options.durability)),
        leases(options.heartbeat_ms * options.liveness / 1000.0) {}

  double lease_timeout() const { return leases.timeout(); }

  void open_experiment() {
    const double now = schema::unix_now();
    store.begin();
    if (auto existing = store.find_experiment(spec.name)) {
      if (existing->spec_hash != spec.hash()) {
        throw std::runtime_error("experiment '" + spec.name + "' in " + options.db_path.string() +
                                 " was created from a different spec (hash " + existing->spec_hash.substr(0, 12) + ", this spec " +
                                 spec.hash().substr(0, 12) + "); rename the experiment or use another --db");
      }
      experiment = *existing;
      resumed = true;
      const auto max_trials = std::max<std::int64_t>(existing->max_trials, spec.budget.trials) + options.extend_budget;
      if (max_trials != existing->max_trials) store.update_experiment_max_trials(experiment.id, max_trials);
      experiment.max_trials = max_trials;
      store.update_experiment_status(experiment.id, "RUNNING", std::nullopt);
      store.insert_event(experiment.id, std::nullopt, std::nullopt, "RESUMED",
                         {{"max_trials", max_trials}, {"extend_budget", options.extend_budget}, {"pid", ::getpid()},
                          {"spec_dir", spec.spec_dir.string()}},
                         now);
    } else {
      if (options.extend_budget > 0) spdlog::info("--extend-budget applies to a resumed experiment; '{}' is new", spec.name);
      experiment.name = spec.name;
      experiment.spec_json = spec.document.dump(2);
      experiment.spec_hash = spec.hash();
      experiment.seed = spec.seed;
      experiment.lorafarm_version = kVersion;
      experiment.git_commit = kGitCommit;
      experiment.host = host_name();
      experiment.threads = static_cast<int>(std::thread::hardware_concurrency());
      experiment.max_trials = spec.budget.trials + options.extend_budget;
      experiment.created_at = now;
      experiment.id = store.insert_experiment(experiment);
      store.insert_event(experiment.id, std::nullopt, std::nullopt, "CREATED",
                         {{"spec_hash", experiment.spec_hash}, {"pid", ::getpid()}, {"spec_dir", spec.spec_dir.string()}}, now);
    }
    trials = std::make_unique<TrialLifecycle>(store, experiment.id, spec);
    trials->load();
    std::vector<search::Observation> warm;
    if (spec.warm_start) {
      const auto previous = store.find_experiment(*spec.warm_start);
      if (!previous) {
        throw schema::SpecError("search.warm_start: there is no experiment '" + *spec.warm_start + "' in " + options.db_path.string() +
                                " (warm starts read another experiment of the same database)");
      }
      int left_out = 0;
      warm = warm_start_observations(store, *previous, spec, left_out);
      spdlog::info("warm start: {} finished trial(s) of '{}'{}", warm.size(), *spec.warm_start,
                   left_out ? fmt::format(", {} left out (parameters outside this space or objectives missing)", left_out) : "");
      store.insert_event(experiment.id, std::nullopt, std::nullopt, "WARM_START",
                         {{"experiment", *spec.warm_start}, {"trials", warm.size()}, {"left_out", left_out}}, now);
    }
    sampler = std::make_unique<SuggestionThread>(make_sampler(spec, std::move(warm)));
    for (const auto& o : trials->observations())
      if (o.status != search::ObservationStatus::Running) sampler->tell(o);
    scheduler = std::make_unique<EarlyStopping>(spec.scheduler);
    if (scheduler->enabled()) replay_scheduler();

    // Trials that were running when the last coordinator stopped: their
    // workers get a grace period to reconnect and claim them.
    const double grace = options.resume_grace_seconds > 0 ? options.resume_grace_seconds : 2 * lease_timeout();
    const double steady = steady_now();
    for (std::int64_t n = 0; n < trials->size(); ++n) {
      const auto& t = trials->trial(n);
      if (t.status != schema::TrialStatus::Running) continue;
      auto& w = leases.worker(t.worker);
      w.last_heard = steady + grace - lease_timeout();
      leases.grant(t.worker, n, t.attempt);
    }
    store.commit();
    if (const auto d = seconds_to_deadline(spec.budget)) deadline = steady + *d;
  }

  void bind() {
    if (options.curve) {
      if (options.allowed_workers.empty())
        throw std::runtime_error("CURVE is on but no worker key is allowed; pass --allow with the workers' .pub files");
      authenticator = std::make_unique<CurveAuthenticator>(context, options.allowed_workers);
      authenticator->secure(socket, *options.curve);
    } else if (!loopback_endpoint(options.bind) && !options.insecure) {
      throw std::runtime_error("refusing to bind " + options.bind +
                               " without authentication: anyone who can reach it could take trials. Make keys with "
                               "`lorafarm keygen` and pass --curve-key and --allow (docs/security.md), or pass --insecure "
                               "on a network you trust");
    }
    // Workers use a fresh routing id per connection (peer_routes.h); handover
    // only serves peers that reuse their worker id as the routing id.
    socket.set(zmq::sockopt::router_handover, 1);
    // libzmq checks the limit per frame; the body is the largest frame.
    socket.set(zmq::sockopt::maxmsgsize, static_cast<std::int64_t>(schema::kMaxBodyBytes + 1024));
    socket.set(zmq::sockopt::linger, 1000);
    socket.set(zmq::sockopt::sndhwm, 100000);
    socket.set(zmq::sockopt::rcvhwm, kReceiveQueuePerPeer);
    socket.bind(options.bind);
    endpoint = socket.get(zmq::sockopt::last_endpoint);
    spdlog::info("experiment '{}' ({}): listening on {}", spec.name, resumed ? "resumed" : "new", endpoint);
  }

  // ---- sending -------------------------------------------------------------
  void send(const std::string& worker, MessageType type, json body) { outbox.emplace_back(worker, Message{type, std::move(body)}); }

  void flush() {
    for (const auto& [worker, message] : outbox) {
      const auto frames = schema::encode(message);
      const std::string route = routes.route_of(worker);
      std::array<zmq::const_buffer, 4> parts{zmq::buffer(route), zmq::buffer(frames[0]), zmq::buffer(frames[1]), zmq::buffer(frames[2])};
      try {
        if (!zmq::send_multipart(socket, parts, zmq::send_flags::dontwait)) spdlog::warn("send to {} would block; dropped", worker);
      } catch (const zmq::error_t& e) {
        spdlog::warn("send to {} failed: {}", worker, e.what());
      }
    }
    outbox.clear();
  }

  std::size_t connected_workers() const {
    return static_cast<std::size_t>(std::count_if(leases.workers().begin(), leases.workers().end(), [](const auto& w) { return w.second.connected; }));
  }

  void drop(const std::string& who, const std::string& why) {
    ++dropped;
    // Log the first few in full, then one line in a thousand, so a flood of
    // garbage cannot fill the disk.
    if (++warnings_logged <= 20 || warnings_logged % 1000 == 0)
      spdlog::warn("dropped a message from {}: {} ({} dropped so far)", who.empty() ? "?" : who, why, dropped);
  }

  // ---- dispatch --------------------------------------------------------------
  bool dispatch_blocked(double now) {
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

  bool more_to_create() const { return !sampler_exhausted && trials->size() < experiment.max_trials; }

  // Queued trials from the sampler: takes a finished answer, and asks for
  // as many new trials as free worker slots (plus a look-ahead when the
  // sampler is slow against the trials) unless a request is running.
  void refill_queue() {
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
  std::int64_t look_ahead() const {
    if (wall_samples == 0 || mean_wall <= 0 || last_suggest_seconds < 0.05 * mean_wall) return 0;
    std::int64_t connected = 0;
    for (const auto& [id, w] : leases.workers()) connected += w.connected ? 1 : 0;
    return std::min<std::int64_t>(connected, static_cast<std::int64_t>(std::ceil(connected * last_suggest_seconds / mean_wall)));
  }

  void create_trials(const SuggestionThread::Answer& answer) {
    last_suggest_seconds = answer.seconds;
    if (static_cast<int>(answer.suggestions.size()) < answer.requested) sampler_exhausted = true;
    const double wall = schema::unix_now();
    for (const auto& params : answer.suggestions) {
      if (trials->size() >= experiment.max_trials) break;  // the budget or deadline moved while it computed
      trials->create(params, wall);
    }
  }

  void dispatch(double now) {
    if (dispatch_blocked(now)) return;
    refill_queue();
    const int parallel = spec.budget.parallel;
    while (true) {
      if (parallel > 0 && trials->running() >= parallel) return;
      WorkerLease* target = nullptr;
      for (auto& [id, w] : leases.workers()) {
        auto& lease = const_cast<WorkerLease&>(w);
        if (!lease.connected || lease.credit <= 0) continue;
        if (!target || lease.credit > target->credit) target = &lease;  // spread over workers
      }
      if (!target) return;
      if (trials->queue().empty()) {
        refill_queue();
        if (trials->queue().empty()) return;
      }
      const auto number = trials->start_next(target->id, schema::unix_now());
      const auto& t = trials->trial(number);
      leases.grant(target->id, number, t.attempt);
      target->credit -= 1;
      send(target->id, MessageType::Assign, assignment(spec, t));
    }
  }

  // ---- handling ---------------------------------------------------------------
  void handle(const std::string& route, const Message& m, double now) {
    if (m.type == MessageType::Hello) return on_hello(route, m.body, now);
    const std::string worker = routes.worker_of(route);
    auto* lease = leases.find(worker);
    if (!lease || !lease->connected) {
      if (m.type == MessageType::Result || m.type == MessageType::Failed || m.type == MessageType::Heartbeat ||
          m.type == MessageType::Progress || m.type == MessageType::Request) {
        send(worker, MessageType::Reject, {{"reason", "unknown worker: say HELLO first"}, {"rehello", true}});
      } else {
        drop(worker, std::string("unexpected ") + std::string(to_string(m.type)) + " before HELLO");
      }
      return;
    }
    leases.heard(worker, now);
    switch (m.type) {
      case MessageType::Request:
        lease->credit = std::min(lease->slots, lease->credit + m.body["slots"].get<int>());
        return;
      case MessageType::Heartbeat: return on_heartbeat(worker, m.body);
      case MessageType::Progress: return on_progress(worker, m.body);
      case MessageType::Result: return on_result(worker, m.body, now);
      case MessageType::Failed: return on_failed(worker, m.body, now);
      default: drop(worker, std::string("a worker may not send ") + std::string(to_string(m.type)));
    }
  }

  void on_hello(const std::string& route, const json& body, double now) {
    if (!hello_bucket.take(now)) return drop(route, "HELLO rate limit exceeded; the worker will say HELLO again");
    const std::string worker = body["worker_id"].get<std::string>();
    if (!PeerRoutes::speaks_for(route, worker)) {
      drop(route, "HELLO worker_id differs from the socket identity");
      send(route, MessageType::Reject, {{"reason", "the socket routing id must be the worker_id, or the worker_id followed by '~'"}});
      return;
    }
    if (!leases.find(worker) && connected_workers() >= kMaxWorkers) {
      drop(worker, "too many workers");
      send(route, MessageType::Reject, {{"reason", "the coordinator already has " + std::to_string(kMaxWorkers) + " workers"}});
      return;
    }
    routes.bind(route, worker);
    const double wall = schema::unix_now();
    auto& lease = leases.worker(worker);
    const bool known = lease.connected;
    lease.connected = true;
    lease.slots = body["slots"].get<int>();
    lease.credit = 0;  // the worker follows WELCOME with a REQUEST for its free slots
    lease.last_heard = now;
    store.upsert_worker({worker, body["host"].get<std::string>(), lease.slots, body["version"].get<std::string>(),
                         body.value("capabilities", json::array()), body.value("pid", std::int64_t{0}), wall, wall, "CONNECTED"});

    // Reconcile what the worker says it holds with what we leased to it.
    std::map<std::int64_t, int> claimed;
    for (const auto& ref : body.value("running", json::array())) claimed[ref["trial"].get<std::int64_t>()] = ref["attempt"].get<int>();
    json cancel = json::array();
    const auto held = lease.trials;  // copy: lose() below edits the table
    for (const auto& [trial, attempt] : held) {
      const auto it = claimed.find(trial);
      if (it != claimed.end() && it->second == attempt) continue;
      leases.release(trial);
      if (trials->holds(trial, attempt)) {
        trials->lose(trial, "worker " + worker + " restarted without it", wall);
        store.insert_event(experiment.id, trials->trial(trial).id, attempt, "DISOWNED", {{"worker", worker}}, wall);
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
    spdlog::info("worker {} {} ({} slots, {} trials kept, {} cancelled)", worker, known ? "reconnected" : "joined", lease.slots,
                 claimed.size() - cancel.size(), cancel.size());
    send(worker, MessageType::Welcome,
         {{"experiment", spec.name}, {"heartbeat_ms", options.heartbeat_ms}, {"liveness", options.liveness}, {"cancel", cancel}});
  }

  void on_heartbeat(const std::string& worker, const json& body) {
    for (const auto& ref : body.value("running", json::array())) {
      const auto trial = ref["trial"].get<std::int64_t>();
      const int attempt = ref["attempt"].get<int>();
      const auto holder = leases.holder(trial);
      if (trials->holds(trial, attempt) && holder && *holder == worker) continue;
      send(worker, MessageType::Cancel, {{"trial", trial}, {"attempt", attempt}, {"reason", "no lease"}});
    }
  }

  // The rungs of ASHA live in memory: a resumed sweep rebuilds them from the
  // stored learning curves, in trial order.
  void replay_scheduler() {
    for (std::int64_t n = 0; n < trials->size(); ++n) {
      const auto& t = trials->trial(n);
      if (t.status == schema::TrialStatus::Queued) continue;
      for (const auto& m : store.metrics(t.id))
        if (m.name == scheduler->metric() && m.value && m.attempt == t.attempt) scheduler->replay(n, m.step, *m.value);
    }
  }

  bool owns(const std::string& worker, std::int64_t trial, int attempt) const {
    const auto holder = leases.holder(trial);
    return holder && *holder == worker && trials->holds(trial, attempt);
  }

  void on_progress(const std::string& worker, const json& body) {
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

  // A RESULT or FAILED for an attempt that does not hold the lease: recorded,
  // acknowledged (so the worker forgets it), never counted.
  void record_unowned(const std::string& worker, MessageType type, const json& body, double wall) {
    const auto trial = body["trial"].get<std::int64_t>();
    const int attempt = body["attempt"].get<int>();
    std::string kind = "NOT_HELD_" + std::string(to_string(type));
    std::optional<std::int64_t> trial_id;
    if (trial < trials->size()) {
      const auto& t = trials->trial(trial);
      trial_id = t.id;
      if (attempt < t.attempt || (attempt == t.attempt && t.status != schema::TrialStatus::Running)) {
        const bool duplicate = attempt == t.attempt && schema::is_final(t.status);
        kind = std::string(duplicate ? "DUPLICATE_" : "STALE_") + std::string(to_string(type));
      }
    }
    json detail{{"worker", worker}, {"trial", trial}, {"attempt", attempt}};
    if (body.contains("metrics")) detail["metrics"] = body["metrics"];
    if (body.contains("cause")) detail["cause"] = body["cause"];
    store.insert_event(experiment.id, trial_id, attempt, kind, detail, wall);
    spdlog::info("{} trial {} attempt {} from {}: recorded, not counted", kind, trial, attempt, worker);
    send(worker, MessageType::Ack, {{"trial", trial}, {"attempt", attempt}});
  }

  void on_result(const std::string& worker, const json& body, double now) {
    const double wall = schema::unix_now();
    const auto trial = body["trial"].get<std::int64_t>();
    const int attempt = body["attempt"].get<int>();
    if (!owns(worker, trial, attempt)) return record_unowned(worker, MessageType::Result, body, wall);
    const auto& t = trials->trial(trial);
    for (const auto& a : body.value("artifacts", json::array()))
      store.insert_artifact({t.id, attempt, worker, a["path"].get<std::string>(), a["sha256"].get<std::string>(), a["bytes"].get<std::int64_t>()});
    json metrics = body["metrics"];
    const schema::WorkerMeasurements measured{optional_number(body, "peak_rss_mb"), optional_number(body, "wall_seconds")};
    auto objective = schema::resolve_metric(spec.objective.metric, metrics, measured);
    if (spec.rank_epsilon) {
      // A nested-rank trial: its objective is the rank curve's chosen point.
      if (const auto choice = choose_rank(metrics, spec.objective.metric, *spec.rank_epsilon, spec.objective.maximize)) {
        metrics["chosen_rank"] = choice->rank;
        metrics[spec.objective.metric + "@chosen_rank"] = choice->value;
        objective = choice->value;
      }
    }
    leases.release(trial);
    send(worker, MessageType::Ack, {{"trial", trial}, {"attempt", attempt}});
    schema::ResultRecord result{t.id, attempt, metrics, measured.peak_rss_mb, measured.wall_seconds};
    if (result.wall_seconds) {
      mean_wall = (mean_wall * wall_samples + *result.wall_seconds) / (wall_samples + 1);
      wall_samples = std::min(wall_samples + 1, 50);
    }
    std::string missing = objective ? "" : spec.objective.metric;
    for (const auto& more : spec.more_objectives) {
      const auto value = result.metric(more.metric);
      if (!value) {
        if (missing.empty()) missing = more.metric;
        continue;
      }
      result.metrics[more.metric] = *value;  // kept with the result: a resumed sweep's sampler reads it there
    }
    if (!missing.empty()) {
      trials->fail(trial, schema::TrialStatus::Failed, "bad_output: the final result has no number '" + missing + "'", wall);
      return;
    }
    bool feasible = true;
    for (const auto& c : spec.constraints) {
      const auto value = result.metric(c.metric);
      if (value && !c.satisfied(*value)) feasible = false;
    }
    trials->complete(trial, result, *objective, feasible, wall);
    sampler->tell(trials->observations()[static_cast<std::size_t>(trial)]);
  }

  void on_failed(const std::string& worker, const json& body, double now) {
    const double wall = schema::unix_now();
    const auto trial = body["trial"].get<std::int64_t>();
    const int attempt = body["attempt"].get<int>();
    if (!owns(worker, trial, attempt)) return record_unowned(worker, MessageType::Failed, body, wall);
    leases.release(trial);
    send(worker, MessageType::Ack, {{"trial", trial}, {"attempt", attempt}});
    const auto cause = body["cause"].get<std::string>();
    std::string error = cause;
    if (body.contains("message") && !body["message"].get<std::string>().empty()) error += ": " + body["message"].get<std::string>();
    const auto tail = body.value("stderr_tail", std::string());
    store.insert_event(experiment.id, trials->trial(trial).id, attempt, "TRIAL_FAILED",
                       {{"worker", worker}, {"cause", cause}, {"message", body.value("message", "")}, {"exit_code", optional_json(body, "exit_code")},
                        {"signal", optional_json(body, "signal")}, {"stderr_tail", tail}, {"peak_rss_mb", optional_json(body, "peak_rss_mb")}},
                       wall);
    if (!tail.empty()) error += "\n--- stderr (tail) ---\n" + tail;
    if (cause == "cancelled") return trials->cancel(trial, wall);
    const auto status = cause == "stopped" ? schema::TrialStatus::Pruned
                        : cause == "memory" ? schema::TrialStatus::Infeasible
                                            : schema::TrialStatus::Failed;
    trials->fail(trial, status, error, wall);
    sampler->tell(trials->observations()[static_cast<std::size_t>(trial)]);
  }

  void expire_leases(double now) {
    const double wall = schema::unix_now();
    for (const auto& gone : leases.expire(now)) {
      routes.forget(gone.id);
      if (gone.connected || !gone.trials.empty())
        spdlog::warn("worker {} silent for more than {:.1f}s: {} trial(s) lost", gone.id, lease_timeout(), gone.trials.size());
      for (const auto& [trial, attempt] : gone.trials) {
        if (!trials->holds(trial, attempt)) continue;
        trials->lose(trial, "lease expired: worker " + gone.id + " went silent", wall);
        store.insert_event(experiment.id, trials->trial(trial).id, attempt, "LEASE_EXPIRED", {{"worker", gone.id}}, wall);
      }
      if (gone.connected) store.update_worker_status(gone.id, "LOST", wall);
    }
  }

  void check_signals(double now) {
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

  bool done() const {
    if (trials->running() > 0) return false;
    if (stopping || deadline_reached) return true;
    return trials->queue().empty() && !more_to_create();
  }

  ProgressSnapshot snapshot(double now) const {
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

  void receive_batch(double now) {
    std::vector<zmq::message_t> parts;
    for (int i = 0; i < 4096; ++i) {
      parts.clear();
      std::optional<std::size_t> got;
      try {
        got = zmq::recv_multipart(socket, std::back_inserter(parts), zmq::recv_flags::dontwait);
      } catch (const zmq::error_t& e) {
        if (e.num() == EINTR) return;
        drop("", std::string("receive failed: ") + e.what());
        continue;
      }
      if (!got) return;
      if (parts.empty()) continue;
      const std::string route = parts[0].to_string();
      std::vector<std::string_view> frames;
      for (std::size_t k = 1; k < parts.size(); ++k) frames.push_back(parts[k].to_string_view());
      try {
        const Message m = schema::decode(frames);
        store.begin();
        handle(route, m, now);
      } catch (const schema::ProtocolError& e) {
        drop(route, e.what());
      } catch (const nlohmann::json::exception& e) {
        drop(route, std::string("bad field: ") + e.what());
      }
    }
  }

  RunOutcome run() {
    spdlog::info("{} trial(s) in the budget, {} already created; sampler {}", experiment.max_trials, trials->size(), sampler->name());
    std::array<zmq::pollitem_t, 1> items{{{socket.handle(), 0, ZMQ_POLLIN, 0}}};
    while (true) {
      double now = steady_now();
      check_signals(now);
      if (done() || (cancelling && now > cancel_deadline)) break;
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

  RunOutcome finish() {
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
};

Coordinator::Coordinator(schema::SweepSpec spec, CoordinatorOptions options)
    : state_(std::make_unique<State>(std::move(spec), std::move(options))) {
  state_->open_experiment();
  state_->bind();
}

Coordinator::~Coordinator() = default;

std::string Coordinator::endpoint() const { return state_->endpoint; }
std::int64_t Coordinator::experiment_id() const { return state_->experiment.id; }
bool Coordinator::resumed() const { return state_->resumed; }
bool Coordinator::has_work() const { return !state_->done(); }
RunOutcome Coordinator::run() { return state_->run(); }

}  // namespace lorafarm::coordinator
