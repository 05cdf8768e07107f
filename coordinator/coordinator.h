// The coordinator: owns the experiment in the store, binds a ZeroMQ ROUTER,
// hands trials to workers under leases and records everything they report.
// Single-threaded: each loop turn drains the socket, applies every state change
// in one SQLite transaction, commits, and only then sends the replies (so an
// ASSIGN or ACK never reaches a worker before the state it implies is durable).
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "schema/curve_keys.h"
#include "schema/store.h"
#include "schema/sweep_spec.h"

namespace lorafarm::coordinator {

struct ProgressSnapshot {
  std::int64_t budget = 0;     // trials the experiment will create
  std::int64_t created = 0;
  std::int64_t completed = 0;
  std::int64_t failed = 0;     // FAILED + LOST + INFEASIBLE
  std::int64_t pruned = 0;
  std::int64_t running = 0;
  std::int64_t queued = 0;
  int workers = 0;
  std::optional<double> best;  // best objective so far (as reported)
  double elapsed_seconds = 0;
  bool stopping = false;
};

struct CoordinatorOptions {
  std::filesystem::path db_path = "lorafarm.db";
  std::string bind = "tcp://127.0.0.1:0";
  bool insecure = false;              // allow a non-loopback bind without CURVE
  // CURVE (docs/security.md): the coordinator's key pair and the public keys of
  // the workers it admits. Required for a non-loopback bind unless `insecure`.
  std::optional<schema::CurveKeyPair> curve;
  std::set<std::string> allowed_workers;
  int heartbeat_ms = 1000;            // both ways (Paranoid Pirate)
  int liveness = 3;                   // heartbeats missed before a worker is dead
  double resume_grace_seconds = 0;    // wait for old workers after a restart; 0 = 2 lease timeouts
  std::int64_t extend_budget = 0;     // --extend-budget: trials added on resume
  schema::Store::Durability durability = schema::Store::Durability::Normal;
  double cancel_grace_seconds = 5;    // after the second signal: wait for cancellations
  // The artifact store (docs/store.md); default: <db stem>-artifacts beside db_path.
  std::filesystem::path artifact_dir;
  // Where this process's own local workers write (sweep without --bind): their
  // files are on this machine already and never travel.
  std::filesystem::path local_workdir;
  std::int64_t max_artifact_bytes = std::int64_t{2048} << 20;  // per file; bigger ones stay on their worker
  double artifact_wait_seconds = 300;  // after the last trial: wait this long at most for transfers
  // Incremented by the caller's SIGINT/SIGTERM handler: 1 = stop dispatching,
  // 2 = cancel running trials.
  const std::atomic<int>* interrupts = nullptr;
  std::function<void(const ProgressSnapshot&)> on_progress;  // about 5 times a second
  // Engine trials: the engine's predicted peak RSS in MB of a trial with these
  // parameters, or nullopt. `lorafarm sweep` wires engine/memory.h in here:
  // the coordinator library does not link the engine (docs/design.md).
  std::function<std::optional<double>(const nlohmann::json& params)> predict_peak_mb;
  // Seconds after the first worker connected before a trial that exceeds every
  // connected worker's total offer is INFEASIBLE; 0 = two lease timeouts.
  double infeasible_after_seconds = 0;
};

struct RunOutcome {
  std::int64_t experiment_id = 0;
  bool finished = false;      // every trial of the budget reached a final state
  bool interrupted = false;   // stopped by a signal
  bool deadline_reached = false;
  std::int64_t dropped_messages = 0;  // malformed / oversized / unexpected messages
};

class Coordinator {
 public:
  // Opens (creating or migrating) the database and creates the experiment, or
  // resumes it (the spec hash must match). Binds the socket. Throws on errors.
  Coordinator(schema::SweepSpec spec, CoordinatorOptions options);
  ~Coordinator();
  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;

  // The endpoint workers connect to (with the real port when bound to :0).
  std::string endpoint() const;
  std::int64_t experiment_id() const;
  bool resumed() const;
  // Whether run() has anything to do (false for a finished experiment).
  bool has_work() const;
  RunOutcome run();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace lorafarm::coordinator
