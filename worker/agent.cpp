// The worker's event loop: one thread polls the DEALER socket and the output
// pipes of every running trial.
#include "worker/agent.h"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <thread>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "lorafarm/version.h"
#include "schema/messages.h"
#include "worker/artifact_upload.h"
#include "worker/checkpoint_download.h"
#include "worker/trial_runner.h"

namespace lorafarm::worker {

using nlohmann::json;
using schema::Message;
using schema::MessageType;

std::string default_worker_id() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return std::string(host) + "-" + std::to_string(::getpid());
}

namespace {
using TrialKey = std::pair<std::int64_t, int>;  // (trial, attempt)

constexpr std::size_t kMaxWorkerIdBytes = 200;

// Each connection gets its own routing id, "<id>~<nonce>": the coordinator
// binds it to the worker id at HELLO (coordinator/peer_routes.h says why a
// reused routing id leaks connections in libzmq).
std::string connection_route(const std::string& worker_id) {
  static std::mt19937_64 nonces{std::random_device{}()};
  char nonce[17];
  std::snprintf(nonce, sizeof nonce, "%016llx", static_cast<unsigned long long>(nonces()));
  return worker_id + "~" + nonce;
}

// Why the devices an ASSIGN gives `launch` cannot be used here (not offered,
// or held by a running trial), or nullopt.
template <typename Running>
std::optional<std::string> device_conflict(const TrialLaunch& launch, const schema::WorkerOffer& offer, const Running& running) {
  if (!launch.devices) return std::nullopt;
  for (const auto& id : *launch.devices) {
    if (std::find(offer.gpus.begin(), offer.gpus.end(), id) == offer.gpus.end()) return "device " + id + " is not offered by this worker (--gpus)";
    for (const auto& [key, p] : running) {
      const auto& held = p->launch().devices;
      if (held && std::find(held->begin(), held->end(), id) != held->end())
        return "device " + id + " is held by trial " + std::to_string(key.first);
    }
  }
  return std::nullopt;
}
}  // namespace

struct WorkerAgent::State {
  WorkerOptions options;
  zmq::context_t context{1};
  std::unique_ptr<zmq::socket_t> socket;
  std::map<TrialKey, std::unique_ptr<TrialProcess>> running;
  std::map<TrialKey, json> unacked;  // finished trials' RESULT/FAILED, kept until ACK
  // Finished trials' folders until ACK: an ACK that says the trial has ended
  // for good (`ended`) lets the worker delete their checkpoints.
  std::map<TrialKey, std::filesystem::path> finished_folders;
  WorkerSummary summary;
  std::unique_ptr<ArtifactUploads> uploads;  // files the coordinator fetches
  CheckpointDownloads downloads;              // checkpoint files of resumed attempts, pulled before they start
  std::map<TrialKey, TrialLaunch> restoring;  // resumed attempts waiting for their checkpoint files
  bool welcomed = false;
  bool ever_welcomed = false;
  bool draining = false;
  bool cancelling = false;
  bool shutdown = false;
  int heartbeat_ms;
  int liveness;
  double last_heard = 0;
  double last_sent_heartbeat = 0;
  double hello_sent = 0;
  double reconnect_at = 0;  // > 0 while waiting to reconnect
  int backoff_ms = 0;

  explicit State(WorkerOptions o) : options(std::move(o)), heartbeat_ms(options.heartbeat_ms), liveness(options.liveness) {
    if (options.id.empty()) options.id = default_worker_id();
    // ZeroMQ routing ids are at most 255 bytes; the route adds '~' and a nonce.
    if (options.id.size() > kMaxWorkerIdBytes)
      throw std::invalid_argument("--id may have at most " + std::to_string(kMaxWorkerIdBytes) + " bytes, got " + std::to_string(options.id.size()));
    if (options.self_exe.empty()) options.self_exe = std::filesystem::read_symlink("/proc/self/exe");
    if (options.workdir.empty()) options.workdir = std::filesystem::temp_directory_path() / ("lorafarm-worker-" + options.id);
    std::filesystem::create_directories(options.workdir);
    if (options.slots < 1) throw std::invalid_argument("--slots must be >= 1, got " + std::to_string(options.slots));
    uploads = std::make_unique<ArtifactUploads>(options.workdir, options.upload_chunk_bytes);
  }

  void send(MessageType type, const json& body) {
    if (!socket) return;
    const auto frames = schema::encode({type, body});
    std::array<zmq::const_buffer, 3> parts{zmq::buffer(frames[0]), zmq::buffer(frames[1]), zmq::buffer(frames[2])};
    try {
      zmq::send_multipart(*socket, parts, zmq::send_flags::dontwait);
    } catch (const zmq::error_t& e) {
      spdlog::warn("send {} failed: {}", to_string(type), e.what());
    }
  }

  json held() const {
    json refs = json::array();
    for (const auto& [key, p] : running) refs.push_back({{"trial", key.first}, {"attempt", key.second}});
    for (const auto& [key, m] : unacked) refs.push_back({{"trial", key.first}, {"attempt", key.second}});
    for (const auto& [key, l] : restoring) refs.push_back({{"trial", key.first}, {"attempt", key.second}});
    return refs;
  }

  void connect(double now) {
    socket = std::make_unique<zmq::socket_t>(context, zmq::socket_type::dealer);
    socket->set(zmq::sockopt::routing_id, connection_route(options.id));
    socket->set(zmq::sockopt::linger, 2000);
    socket->set(zmq::sockopt::maxmsgsize, static_cast<std::int64_t>(schema::kMaxBodyBytes + 1024));
    if (options.curve) {
      socket->set(zmq::sockopt::curve_serverkey, options.server_public_key);
      socket->set(zmq::sockopt::curve_publickey, options.curve->public_key);
      socket->set(zmq::sockopt::curve_secretkey, options.curve->secret_key);
    }
    socket->set(zmq::sockopt::sndhwm, 100000);
    socket->set(zmq::sockopt::rcvhwm, 100000);
    socket->connect(options.endpoint);
    welcomed = false;
    last_heard = now;
    hello(now);
  }

  void hello(double now) {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    send(MessageType::Hello, {{"worker_id", options.id},
                              {"host", host},
                              {"slots", options.slots},
                              {"version", kVersion},
                              {"capabilities", {"command", "engine"}},
                              {"running", held()},
                              {"pid", ::getpid()},
                              {"resources", options.offer.to_json()}});
    hello_sent = now;
  }

  void disconnect(double now) {
    socket.reset();  // queued messages are dropped; RESULT/FAILED are resent from `unacked`
    uploads->reset();  // the coordinator sends FETCH again after HELLO; transfers resume at its offset
    welcomed = false;
    backoff_ms = backoff_ms == 0 ? heartbeat_ms : std::min(backoff_ms * 2, 8000);
    reconnect_at = now + backoff_ms / 1000.0;
    ++summary.reconnects;
    spdlog::warn("coordinator silent for {:.1f}s; reconnecting in {} ms ({} trial(s) still running)", now - last_heard, backoff_ms, running.size());
    if (!ever_welcomed)
      spdlog::warn("never connected to {}: is the coordinator running there{}?", options.endpoint,
                   options.curve ? ", was this worker's .pub added to its --allow list, and is --server-key its public key"
                                 : ", and does it need CURVE keys (--curve-key, --server-key)");
  }

  int free_slots() const { return options.slots - static_cast<int>(running.size() + restoring.size()); }

  void on_message(const Message& m, double now) {
    last_heard = now;
    switch (m.type) {
      case MessageType::Welcome: {
        welcomed = true;
        ever_welcomed = true;
        backoff_ms = 0;
        heartbeat_ms = m.body["heartbeat_ms"].get<int>();
        liveness = m.body["liveness"].get<int>();
        for (const auto& ref : m.body.value("cancel", json::array())) {
          const TrialKey key{ref["trial"].get<std::int64_t>(), ref["attempt"].get<int>()};
          unacked.erase(key);
          finished_folders.erase(key);
          if (auto it = running.find(key); it != running.end()) it->second->kill("cancelled", now);
          abandon_restore(key, "");
        }
        for (const auto& [key, outcome] : unacked) send(*schema::message_type_from(outcome["type"].get<std::string>()), outcome["body"]);
        for (const auto& body : downloads.resend()) send(MessageType::Download, body);  // restores resume at their offsets
        if (!draining && free_slots() > 0) send(MessageType::Request, {{"slots", free_slots()}});
        spdlog::info("worker {}: connected to {} ({} slot(s))", options.id, options.endpoint, options.slots);
        return;
      }
      case MessageType::Reject:
        if (m.body.value("rehello", false)) {
          uploads->reset();  // a coordinator that does not know us: its FETCH restarts the transfers at its offsets
          return hello(now);
        }
        throw std::runtime_error("the coordinator rejected this worker: " + m.body["reason"].get<std::string>());
      case MessageType::Assign: return on_assign(m.body, now);
      case MessageType::Continue: return;
      case MessageType::Stop:
      case MessageType::Cancel: {
        const TrialKey key{m.body["trial"].get<std::int64_t>(), m.body["attempt"].get<int>()};
        if (auto it = running.find(key); it != running.end()) {
          it->second->kill(m.type == MessageType::Stop ? "stopped" : "cancelled", now);
        } else if (restoring.count(key)) {
          abandon_restore(key, m.type == MessageType::Stop ? "stopped" : "cancelled");
        } else if (m.type == MessageType::Cancel) {
          unacked.erase(key);
          finished_folders.erase(key);
        }
        return;
      }
      case MessageType::Ack: {
        const TrialKey key{m.body["trial"].get<std::int64_t>(), m.body["attempt"].get<int>()};
        unacked.erase(key);
        if (const auto it = finished_folders.find(key); it != finished_folders.end()) {
          if (m.body.value("ended", false)) clear_checkpoints(it->second);
          finished_folders.erase(it);
        }
        return;
      }
      case MessageType::Heartbeat: return;
      case MessageType::Fetch:
        for (const auto& upload : uploads->on_fetch(m.body)) send(MessageType::Upload, upload);
        return;
      case MessageType::UploadAck:
        if (const auto next = uploads->on_ack(m.body)) send(MessageType::Upload, *next);
        return;
      case MessageType::DownloadChunk:
        if (const auto next = downloads.on_chunk(m.body)) send(MessageType::Download, *next);
        return start_restored();
      case MessageType::Release: {
        const TrialKey key{m.body["trial"].get<std::int64_t>(), m.body["attempt"].get<int>()};
        if (auto it = running.find(key); it != running.end()) {
          const auto removed = it->second->release_checkpoints_below(m.body["below_step"].get<std::int64_t>(), uploads->sending());
          spdlog::debug("worker {}: trial {} attempt {}: {} superseded checkpoint(s) deleted", options.id, key.first, key.second, removed);
        }
        return;
      }
      case MessageType::Shutdown:
        spdlog::info("worker {}: shutdown ({})", options.id, m.body.value("reason", ""));
        shutdown = true;
        summary.shutdown_by_coordinator = true;
        for (auto& [key, p] : running) p->kill("cancelled", now);
        while (!restoring.empty()) abandon_restore(restoring.begin()->first, "");
        return;
      default: spdlog::warn("worker {}: unexpected {} from the coordinator", options.id, to_string(m.type));
    }
  }

  // The memory `batch_size: auto` may fill: the offer less what the other
  // running trials hold, and never above the spec's kill limit.
  // What a `batch_size auto` trial may fill: the memory placement allocated
  // it (its share of the worker's, coordinator/placement.h), else this
  // worker's memory less what its other trials hold.
  std::optional<double> memory_offered(const TrialLaunch& launch) const {
    std::optional<double> offered;
    if (options.offer.memory_mb && launch.held_memory_mb > 0) {
      offered = launch.held_memory_mb;
    } else if (options.offer.memory_mb) {
      double held = 0;
      for (const auto& [key, p] : running) held += p->launch().held_memory_mb;
      offered = static_cast<double>(*options.offer.memory_mb) - held;
    }
    if (launch.memory_limit_mb) offered = std::min(offered.value_or(*launch.memory_limit_mb), *launch.memory_limit_mb);
    return offered;
  }

  void on_assign(const json& body, double now) {
    auto launch = TrialLaunch::from_assign(body);
    const TrialKey key{launch.trial, launch.attempt};
    if (running.count(key) || restoring.count(key)) return;  // a duplicate ASSIGN
    if (free_slots() <= 0 || draining) {
      send(MessageType::Failed, {{"trial", key.first}, {"attempt", key.second}, {"cause", "cancelled"},
                                 {"message", draining ? "worker is shutting down" : "worker has no free slot"}});
      return;
    }
    if (const auto conflict = device_conflict(launch, options.offer, running)) {
      send(MessageType::Failed, {{"trial", key.first}, {"attempt", key.second}, {"cause", "spawn"}, {"message", *conflict}});
      return;
    }
    ++summary.trials_run;
    launch.offered_memory_mb = memory_offered(launch);
    if (launch.resume.is_null()) {
      running.emplace(key, std::make_unique<TrialProcess>(std::move(launch), options.workdir, options.self_exe));
      return;
    }
    // A resumed attempt: its checkpoint's files first, into a fresh checkpoint folder.
    const auto folder = checkpoint_folder(trial_folder(options.workdir, launch));
    std::error_code ec;
    std::filesystem::remove_all(folder, ec);
    const json files = launch.resume["files"];
    restoring.emplace(key, std::move(launch));
    for (const auto& download : downloads.start(key, files, folder)) send(MessageType::Download, download);
    start_restored();
  }

  // Starts the resumed attempts whose checkpoint is complete; fails those whose files could not be restored.
  void start_restored() {
    for (const auto& [key, error] : downloads.take_finished()) {
      auto it = restoring.find(key);
      if (it == restoring.end()) continue;
      if (error.empty()) {
        spdlog::info("worker {}: trial {} attempt {} resumes after step {}", options.id, key.first, key.second,
                     it->second.resume["step"].dump());
        running.emplace(key, std::make_unique<TrialProcess>(std::move(it->second), options.workdir, options.self_exe));
      } else {
        report_unstarted(key, "spawn", "cannot restore the checkpoint: " + error);
      }
      restoring.erase(it);
    }
  }

  // Drops a resumed attempt still waiting for its files; `cause` non-empty: FAILED says so.
  void abandon_restore(const TrialKey& key, const std::string& cause) {
    if (!restoring.erase(key)) return;
    downloads.drop(key);
    if (!cause.empty()) report_unstarted(key, cause, cause == "stopped" ? "stopped by the scheduler" : "cancelled");
  }

  // FAILED for an attempt that never started, kept until ACK like any outcome.
  void report_unstarted(const TrialKey& key, const std::string& cause, const std::string& message) {
    const json outcome{{"type", "FAILED"},
                       {"body", {{"trial", key.first}, {"attempt", key.second}, {"cause", cause}, {"message", message}, {"wall_seconds", 0.0}}}};
    unacked[key] = outcome;
    if (welcomed) send(MessageType::Failed, outcome["body"]);
    if (welcomed && !draining && !shutdown) send(MessageType::Request, {{"slots", 1}});
  }

  void reap(double now) {
    for (auto it = running.begin(); it != running.end();) {
      if (!it->second->poll(now)) {
        ++it;
        continue;
      }
      if (welcomed) {
        for (auto& report : it->second->take_reports_at_exit()) send(MessageType::Progress, report);
        for (auto& body : it->second->take_checkpoints()) send(MessageType::Checkpoint, body);
      }
      const auto& outcome = it->second->outcome();
      unacked[it->first] = outcome;
      finished_folders[it->first] = it->second->trial_dir();
      if (welcomed) send(*schema::message_type_from(outcome["type"].get<std::string>()), outcome["body"]);
      cleanup(*it->second, outcome["type"] == "RESULT");
      it = running.erase(it);
      if (welcomed && !draining && !shutdown) send(MessageType::Request, {{"slots", 1}});
    }
  }

  // A successful trial that left nothing behind leaves no folder behind.
  static void cleanup(const TrialProcess& p, bool succeeded) {
    if (!succeeded) return;
    std::error_code ec;
    if (std::filesystem::is_empty(checkpoint_folder(p.trial_dir()), ec) && !ec) std::filesystem::remove(checkpoint_folder(p.trial_dir()), ec);
    const auto artifacts = p.trial_dir() / "artifacts";
    if (std::filesystem::is_empty(artifacts, ec) && !ec) {
      std::filesystem::remove(artifacts, ec);
      if (std::filesystem::is_empty(p.trial_dir(), ec) && !ec) std::filesystem::remove(p.trial_dir(), ec);
    }
  }

  // A trial that ended for good is never resumed: its frozen checkpoints and
  // its checkpoint folder go (the coordinator deletes its copies too).
  static void clear_checkpoints(const std::filesystem::path& trial_dir) {
    std::error_code ec;
    std::filesystem::remove_all(trial_dir / "checkpoints", ec);
    std::filesystem::remove_all(checkpoint_folder(trial_dir), ec);
    if (std::filesystem::is_empty(trial_dir, ec) && !ec) std::filesystem::remove(trial_dir, ec);
  }

  void check_interrupts(double now) {
    if (!options.interrupts) return;
    const int n = options.interrupts->load();
    if (n >= 1 && !draining) {
      draining = true;
      spdlog::warn("worker {}: finishing {} running trial(s), then exiting (interrupt again to cancel them)", options.id, running.size());
    }
    if (n >= 2 && !cancelling) {
      cancelling = true;
      for (auto& [key, p] : running) p->kill("cancelled", now);
    }
  }

  WorkerSummary run() {
    double now = monotonic_seconds();
    connect(now);
    std::vector<zmq::pollitem_t> items;
    std::vector<std::pair<TrialProcess*, int>> pipes;
    while (true) {
      now = monotonic_seconds();
      check_interrupts(now);
      if ((shutdown || draining) && running.empty() && restoring.empty()) {
        // Give the coordinator a moment to acknowledge the last results and take the files it fetches.
        const bool owes = !unacked.empty() || uploads->active() > 0;
        if (shutdown || !owes || !welcomed || now - last_heard > heartbeat_ms * liveness / 1000.0) break;
      }
      items.clear();
      pipes.clear();
      if (socket) items.push_back({socket->handle(), 0, ZMQ_POLLIN, 0});
      for (auto& [key, p] : running) {
        for (int fd : {p->stdout_fd(), p->stderr_fd()}) {
          if (fd < 0) continue;
          items.push_back({nullptr, fd, ZMQ_POLLIN, 0});
          pipes.emplace_back(p.get(), fd);
        }
      }
      // After the pipes (their indices match `pipes`): wake up when a child exits.
      for (auto& [key, p] : running)
        if (p->exit_fd() >= 0) items.push_back({nullptr, p->exit_fd(), ZMQ_POLLIN, 0});
      try {
        zmq::poll(items.data(), items.size(), std::chrono::milliseconds(running.empty() ? 50 : 20));
      } catch (const zmq::error_t& e) {
        if (e.num() != EINTR) throw;  // a signal: handled at the top of the loop
      }
      now = monotonic_seconds();
      const std::size_t first_pipe = socket ? 1 : 0;
      for (std::size_t i = 0; i < pipes.size(); ++i) {
        if (!(items[first_pipe + i].revents & (ZMQ_POLLIN | ZMQ_POLLERR))) continue;
        for (auto& report : pipes[i].first->read_available(pipes[i].second))
          if (welcomed) send(MessageType::Progress, report);
      }
      for (auto& [key, p] : running)  // checkpoints announced on stdout: frozen now, fetched by the coordinator
        for (auto& body : p->take_checkpoints())
          if (welcomed) send(MessageType::Checkpoint, body);
      for (auto& [key, p] : running)  // watched files (trial.metrics); each reads at most every 0.25 s
        for (auto& report : p->read_files(now))
          if (welcomed) send(MessageType::Progress, report);
      if (socket && (items[0].revents & ZMQ_POLLIN)) receive(now);
      reap(now);
      if (!socket && now >= reconnect_at) connect(now);
      if (socket) {
        if (now - last_heard > heartbeat_ms * liveness / 1000.0) {
          disconnect(now);
        } else if (now - last_sent_heartbeat >= heartbeat_ms / 1000.0) {
          if (welcomed) send(MessageType::Heartbeat, {{"running", held()}});
          else if (now - hello_sent >= heartbeat_ms / 1000.0) hello(now);
          last_sent_heartbeat = now;
        }
      }
    }
    return summary;
  }

  void receive(double now) {
    std::vector<zmq::message_t> parts;
    for (int i = 0; i < 1024 && socket; ++i) {
      parts.clear();
      try {
        if (!zmq::recv_multipart(*socket, std::back_inserter(parts), zmq::recv_flags::dontwait)) return;
      } catch (const zmq::error_t& e) {
        if (e.num() != EINTR) throw;
        return;
      }
      std::vector<std::string_view> frames;
      for (auto& p : parts) frames.push_back(p.to_string_view());
      try {
        on_message(schema::decode(frames), now);
      } catch (const schema::ProtocolError& e) {
        spdlog::warn("worker {}: dropped a message from the coordinator: {}", options.id, e.what());
      }
    }
  }
};

WorkerAgent::WorkerAgent(WorkerOptions options) : state_(std::make_unique<State>(std::move(options))) {}
WorkerAgent::~WorkerAgent() = default;
WorkerSummary WorkerAgent::run() { return state_->run(); }

}  // namespace lorafarm::worker
