// Internal to the coordinator: the state of one Coordinator and its steps,
// defined by concept in coordinator.cpp (the event loop), coordinator_socket.cpp,
// experiment_opening.cpp, trial_dispatch.cpp, worker_messages.cpp and
// trial_results.cpp. Not part of the library's API.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>
#include <zmq.hpp>

#include "coordinator/artifact_transfers.h"
#include "coordinator/coordinator.h"
#include "coordinator/curve_authenticator.h"
#include "coordinator/early_stopping.h"
#include "coordinator/lease_table.h"
#include "coordinator/peer_routes.h"
#include "coordinator/suggestion_thread.h"
#include "coordinator/token_bucket.h"
#include "coordinator/trial_checkpoints.h"
#include "coordinator/trial_lifecycle.h"
#include "schema/artifact_dir.h"
#include "schema/messages.h"

namespace lorafarm::coordinator {

// Limits that keep a misbehaving peer from exhausting the coordinator (docs/security.md).
constexpr double kHelloRatePerSecond = 50;  // all peers together; a restart's reconnect storm fits the burst
constexpr double kHelloBurst = 500;
constexpr std::size_t kMaxWorkers = 4096;   // distinct worker ids with a live connection
constexpr int kReceiveQueuePerPeer = 1000;  // messages; each at most kMaxBodyBytes

inline double steady_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Coordinator::State {
  using json = nlohmann::json;
  using Message = schema::Message;
  using MessageType = schema::MessageType;

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
  // Placement (trial_placement.cpp).
  struct TrialNeed {
    schema::ResourceNeed amounts;
    std::string memory_note;  // where the memory figure came from, for messages
    std::string error;        // the request cannot be resolved for this trial
    bool grows = false;       // batch_size auto: takes the memory it is allocated (grow_into_share)
  };
  std::map<std::int64_t, TrialNeed> needs;                 // trial number -> its needs (params never change)
  std::map<std::int64_t, schema::Allocation> allocations;  // trial number -> what its running attempt holds
  std::optional<double> first_worker_at;                   // steady seconds of this run's first HELLO
  std::unique_ptr<ArtifactTransfers> transfers;     // files still to fetch from workers
  std::optional<double> artifacts_wait_started;    // when the trials were done and transfers were not
  double last_upload = 0;                          // steady seconds of the latest UPLOAD
  std::unique_ptr<TrialCheckpoints> checkpoints;   // announced by running trials (checkpoint_messages.cpp)

  State(schema::SweepSpec s, CoordinatorOptions o)
      : spec(std::move(s)),
        options(std::move(o)),
        store(schema::Store::open_writer(options.db_path, options.durability)),
        leases(options.heartbeat_ms * options.liveness / 1000.0),
        transfers(std::make_unique<ArtifactTransfers>(
            options.artifact_dir.empty() ? schema::default_artifact_dir(options.db_path) : options.artifact_dir, options.local_workdir,
            options.max_artifact_bytes)),
        checkpoints(std::make_unique<TrialCheckpoints>(
            [this](const CheckpointRecord& r, const CheckpointFile& f) { return locate_checkpoint_file(r, f); })) {}

  double lease_timeout() const { return leases.timeout(); }

  // The event loop and its end (coordinator.cpp).
  RunOutcome run();
  void check_signals(double now);
  bool done() const;
  ProgressSnapshot snapshot(double now) const;
  RunOutcome finish();

  // Opening: create the experiment, or resume it (experiment_opening.cpp).
  void open_experiment();
  void create_experiment(double now);
  void resume_experiment(const schema::ExperimentRecord& existing, double now);
  std::vector<search::Observation> warm_start_history(double now);
  void start_sampler(std::vector<search::Observation> warm);
  void replay_scheduler();
  void restore_running_leases(double steady);

  // The socket (coordinator_socket.cpp). Replies wait in the outbox until the
  // loop turn's transaction commits.
  void bind();
  void send(const std::string& worker, MessageType type, json body) { outbox.emplace_back(worker, Message{type, std::move(body)}); }
  void flush();
  void drop(const std::string& who, const std::string& why);
  void receive_batch(double now);

  // Dispatch: the sampler's queue, assignments and lease expiry (trial_dispatch.cpp).
  bool dispatch_blocked(double now);
  bool more_to_create() const { return !sampler_exhausted && trials->size() < experiment.max_trials; }
  void refill_queue();
  std::int64_t look_ahead() const;
  void create_trials(const SuggestionThread::Answer& answer);
  void dispatch(double now);
  void expire_leases(double now);

  // Placement of queued trials on workers (trial_placement.cpp).
  bool place_one(double now);
  const TrialNeed& need_of(std::int64_t number);
  std::optional<std::pair<WorkerLease*, schema::Allocation>> find_place(const TrialNeed& need);
  std::optional<std::string> unplaceable(const TrialNeed& need, double now) const;
  std::vector<schema::Allocation> held_by(const WorkerLease& worker) const;
  void start_on(std::int64_t number, WorkerLease& worker, const schema::Allocation& allocation);
  void restore_allocations();

  // A worker's messages (worker_messages.cpp).
  void handle(const std::string& route, const Message& m, double now);
  void on_hello(const std::string& route, const json& body, double now);
  bool admit_hello(const std::string& route, const std::string& worker);
  json reconcile_claims(const std::string& worker, WorkerLease& lease, const std::map<std::int64_t, int>& claimed, double wall);
  void on_heartbeat(const std::string& worker, const json& body);
  bool owns(const std::string& worker, std::int64_t trial, int attempt) const;
  void on_progress(const std::string& worker, const json& body);
  std::size_t connected_workers() const;

  // A trial's end: RESULT and FAILED (trial_results.cpp).
  void record_unowned(const std::string& worker, MessageType type, const json& body, double wall);
  void on_result(const std::string& worker, const json& body, double now);
  void on_failed(const std::string& worker, const json& body, double now);
  void acknowledge_end(const std::string& worker, std::int64_t trial, int attempt);

  // Artifacts come home: FETCH, UPLOAD, UPLOAD_ACK (artifact_messages.cpp).
  void plan_artifacts(const schema::TrialRecord& trial, int attempt, const std::vector<schema::ArtifactRecord>& files, double wall);
  void restore_pending_artifacts();
  void send_fetches(const std::string& worker);
  void on_upload(const std::string& worker, const json& body);
  bool awaiting_artifacts(double now);

  // Checkpoints: CHECKPOINT, resuming in ASSIGN, DOWNLOAD (checkpoint_messages.cpp).
  std::optional<std::filesystem::path> locate_checkpoint_file(const CheckpointRecord& r, const CheckpointFile& f) const;
  void on_checkpoint(const std::string& worker, const json& body);
  json resume_for(std::int64_t number, int attempt, const std::string& worker);
  void on_download(const std::string& worker, const json& body);
  void restore_checkpoints();
  // Superseded checkpoints: once a running attempt's checkpoint is home, the
  // older ones of its trial are deleted here and on its worker (checkpoint_pruning.cpp).
  void prune_superseded_checkpoints(std::int64_t trial);
  void discard_checkpoints_if_ended(std::int64_t trial);
  void delete_checkpoint(const CheckpointRecord& old, const json& why, double wall);
};

}  // namespace lorafarm::coordinator
