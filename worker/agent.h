// The worker agent: a ZeroMQ DEALER that says HELLO, asks for trials as slots
// free up, runs each in a child process (worker/trial_runner.h), streams its
// reports, and survives a restarting coordinator (Paranoid Pirate: heartbeats
// both ways, reconnect with back-off when the coordinator falls silent, then
// HELLO again listing the trials it still holds).
#pragma once

#include <atomic>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "schema/curve_keys.h"
#include "schema/worker_resources.h"

namespace lorafarm::worker {

struct WorkerOptions {
  std::string endpoint;
  int slots = 1;
  // What this worker offers for placement (--gpus, --memory, --cpus); each
  // trial's child sees only the devices the coordinator gave it.
  schema::WorkerOffer offer;
  std::filesystem::path workdir;     // trial folders go under it
  std::string id;                    // stable identity; default host-pid
  std::filesystem::path self_exe;    // the lorafarm binary, for engine trials; default /proc/self/exe
  int heartbeat_ms = 1000;           // until the coordinator's WELCOME says otherwise
  int liveness = 3;
  std::size_t upload_chunk_bytes = 256 * 1024;  // artifact chunk size (smaller only for tests)
  // CURVE (docs/security.md): this worker's key pair and the coordinator's public key.
  std::optional<schema::CurveKeyPair> curve;
  std::string server_public_key;
  // Incremented by SIGINT/SIGTERM: 1 = finish running trials then exit, 2 = cancel them.
  const std::atomic<int>* interrupts = nullptr;
};

struct WorkerSummary {
  int trials_run = 0;
  int reconnects = 0;
  bool shutdown_by_coordinator = false;
};

class WorkerAgent {
 public:
  explicit WorkerAgent(WorkerOptions options);
  ~WorkerAgent();
  WorkerAgent(const WorkerAgent&) = delete;
  WorkerAgent& operator=(const WorkerAgent&) = delete;
  // Runs until SHUTDOWN, an interrupt, or a REJECT; throws on fatal errors.
  WorkerSummary run();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

std::string default_worker_id();

}  // namespace lorafarm::worker
