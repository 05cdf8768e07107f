// One trial in a child process. Engine trials and command trials differ only
// in argv: an engine trial is `lorafarm train --config trial.json --json`; both
// speak the same protocol on stdout, one JSON object per line:
//   {"step": 10, "val_loss": 2.1, ...}     intermediate report -> PROGRESS
//   {"final": true, "val_loss": 1.9, ...}  the result           -> RESULT
// Anything else on stdout is ignored (but a trial without a final line fails
// as bad_output). A command trial with `trial.metrics` is read by its
// collectors instead (worker/metric_collection.h). The child gets the parameters as JSON on stdin and as
// LORAFARM_PARAM_<NAME> variables, runs in its own process group in its trial
// folder, and dies with the worker (PR_SET_PDEATHSIG).
#pragma once

#include <sys/types.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <future>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "process/child.h"
#include "schema/sweep_spec.h"
#include "worker/metric_collection.h"

namespace lorafarm::worker {

// Everything an ASSIGN says about a trial.
struct TrialLaunch {
  std::string experiment;
  std::int64_t trial = 0;
  int attempt = 1;
  std::uint64_t seed = 0;
  nlohmann::json params = nlohmann::json::object();
  bool engine = false;
  std::vector<std::string> command;
  bool shell = false;
  double timeout_seconds = 0;
  std::map<std::string, std::string> env;
  nlohmann::json config = nlohmann::json::object();  // engine: fixed settings + model + data
  nlohmann::json fixed = nlohmann::json::object();
  std::string spec_dir;
  std::string objective = "val_loss";
  std::optional<double> memory_limit_mb;
  nlohmann::json metrics;  // the spec's trial.metrics (schema::MetricsSpec::to_json), null when absent
  // Placement (ASSIGN's resources): the devices the child may see (set when
  // the worker offers devices; empty hides them all) and its cores.
  std::optional<std::vector<std::string>> devices;
  int cpus = 0;
  double held_memory_mb = 0;  // the memory placement reserved for the trial
  // Engine trials: the memory this worker offers the trial (its --memory less
  // what its other trials hold, within memory_limit_mb), which `batch_size:
  // auto` fits into (LORAFARM_WORKER_MEMORY_MB). Set by the agent.
  std::optional<double> offered_memory_mb;
  nlohmann::json preset;   // the spec's mlx_lm / hf_trainer preset (schema::TrialPreset::to_json), null when absent
  double stop_grace_seconds = schema::TrialSpec::kDefaultStopGraceSeconds;  // SIGTERM, then SIGKILL this long after (STOP, CANCEL)
  // The checkpoint this attempt resumes from ({step, attempt, files}); null
  // for a fresh start. Its files are restored into checkpoint_folder() first.
  nlohmann::json resume;

  // From a validated ASSIGN body.
  static TrialLaunch from_assign(const nlohmann::json& body);
};

// The attempt's folder under the worker's workdir, and the checkpoint folder
// in it (LORAFARM_CHECKPOINT_DIR; the engine's checkpoint_dir).
std::filesystem::path trial_folder(const std::filesystem::path& workdir, const TrialLaunch& launch);
std::filesystem::path checkpoint_folder(const std::filesystem::path& trial_folder);

class TrialProcess {
 public:
  // Creates the trial folder and starts the child. A failure to start is not
  // thrown: the process is then finished with cause "spawn".
  TrialProcess(TrialLaunch launch, const std::filesystem::path& workdir, const std::filesystem::path& self_exe);
  ~TrialProcess();
  TrialProcess(const TrialProcess&) = delete;
  TrialProcess& operator=(const TrialProcess&) = delete;

  const TrialLaunch& launch() const { return launch_; }
  const std::filesystem::path& trial_dir() const { return trial_dir_; }
  pid_t pid() const { return child_.pid(); }
  // Open output pipes to poll (-1 once closed).
  int stdout_fd() const { return out_fd_; }
  int stderr_fd() const { return err_fd_; }
  // Readable once the child has exited (a pidfd; -1 where the kernel has
  // none): lets the caller wake up for the exit instead of polling for it.
  int exit_fd() const { return finished_ ? -1 : child_.exit_fd(); }

  // Reads what is available on `fd`; returns the intermediate reports (PROGRESS
  // bodies) found in complete lines.
  std::vector<nlohmann::json> read_available(int fd);
  // CHECKPOINT bodies of the checkpoints the trial announced ({"checkpoint_step": N}
  // lines): each is frozen when first seen here and hashed on another thread
  // (worker/checkpoint_snapshot.h); a body is returned once its hashes are ready.
  std::vector<nlohmann::json> take_checkpoints();
  // Deletes the frozen checkpoints below `step`, except those still being
  // hashed or holding a file in `sending` (an upload under way): the
  // coordinator has a later one home (RELEASE). Returns how many it removed.
  std::size_t release_checkpoints_below(std::int64_t step, const std::vector<std::filesystem::path>& sending);
  // The intermediate reports in the trial's watched files (trial.metrics),
  // read when they changed; call it every time round the loop.
  std::vector<nlohmann::json> read_files(double now);
  // Enforces timeout and memory limit, reaps the child. True once finished.
  bool poll(double now);
  // The intermediate reports read while reaping (the child's last lines, when
  // its exit was seen before its pipe was drained); send them before outcome().
  std::vector<nlohmann::json> take_reports_at_exit() { return std::exchange(reports_at_exit_, {}); }
  // Stops the child (SIGTERM to its group, SIGKILL stop_grace_seconds later); `cause` is
  // what FAILED will say ("stopped", "cancelled").
  void kill(const std::string& cause, double now);
  bool finished() const { return finished_; }
  // The RESULT or FAILED message to send: {"type": "RESULT"|"FAILED", "body": {...}}.
  const nlohmann::json& outcome() const { return outcome_; }

 private:
  void spawn(const std::filesystem::path& self_exe);
  std::map<std::string, std::string> placeholder_values() const;
  std::vector<std::string> trial_argv(const std::filesystem::path& self_exe, const std::map<std::string, std::string>& values) const;
  std::vector<std::string> preset_argv(const std::map<std::string, std::string>& values) const;
  std::vector<std::string> trial_environment() const;
  void add_device_environment(std::map<std::string, std::string>& env) const;
  void start_with_pipes(process::ChildSpec& child, const std::string& input);
  void split_lines(Stream stream, std::string& buffer, std::string_view data);
  std::vector<nlohmann::json> progress_bodies();
  void close_fd(int& fd);
  void finish(const process::ExitStatus& status);
  void fail_now(const std::string& cause, const std::string& message);
  std::vector<nlohmann::json> artifacts() const;

  TrialLaunch launch_;
  std::filesystem::path trial_dir_;
  process::Child child_;  // killed with its group if still running when the trial is dropped
  int out_fd_ = -1;
  int err_fd_ = -1;
  double started_ = 0;
  std::string out_buffer_;
  std::string err_buffer_;
  std::vector<nlohmann::json> reports_at_exit_;
  std::vector<std::int64_t> checkpoint_steps_;  // announced, not yet frozen
  std::vector<std::pair<std::int64_t, std::future<std::optional<nlohmann::json>>>> hashing_;  // frozen, being hashed
  std::string err_tail_;
  MetricCollection collection_;
  std::string kill_cause_;
  double kill_sent_ = 0;
  bool sigkill_sent_ = false;
  double last_memory_check_ = 0;
  bool finished_ = false;
  nlohmann::json outcome_;
};

// Monotonic seconds.
double monotonic_seconds();

}  // namespace lorafarm::worker
