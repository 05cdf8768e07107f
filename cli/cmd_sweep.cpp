// `lorafarm sweep SPEC`: run (or resume) a sweep. Without --bind it starts its
// own local worker agents over ipc:// and restarts any that die.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <optional>
#include <sstream>
#include <thread>

#include "cli/base_row.h"
#include "cli/command.h"
#include "cli/engine_memory_prediction.h"
#include "cli/input_paths.h"
#include "cli/progress.h"
#include "coordinator/coordinator.h"
#include "dashboard/dashboard_server.h"
#include "process/child.h"
#include "report/summary.h"
#include "schema/artifact_dir.h"
#include "schema/curve_keys.h"
#include "schema/sweep_spec.h"

namespace lorafarm::cli {
namespace {

std::atomic<int> g_interrupts{0};
extern "C" void on_sweep_signal(int) { g_interrupts.fetch_add(1); }

struct SweepOptions {
  std::string spec;
  std::string db = "lorafarm.db";
  int workers = 0;
  std::string bind;
  std::int64_t extend_budget = 0;
  bool insecure = false;
  std::string curve_key;  // the coordinator's key pair (.key)
  std::string allow;      // workers' public keys: a folder of .pub files or a file
  int heartbeat_ms = 1000;
  int liveness = 3;
  std::string durability = "normal";
  std::string workdir;
  std::string log_level = "warn";
  bool json = false;
  bool dashboard = false;
  int dashboard_port = 8080;
  double infeasible_after = 0;
  std::int64_t max_artifact_mb = 2048;
  double artifact_wait_seconds = 300;
};

// Local worker agents: child processes that die with the sweep, each in its
// own process group (a terminal's Ctrl-C goes to the sweep only).
class LocalWorkers {
 public:
  LocalWorkers(std::string endpoint, std::filesystem::path workdir, int heartbeat_ms)
      : endpoint_(std::move(endpoint)), workdir_(std::move(workdir)), heartbeat_ms_(heartbeat_ms) {}
  ~LocalWorkers() { stop(); }

  void start(int count) {
    for (int i = 0; i < count; ++i) workers_.push_back(spawn(i));
  }
  // Restarts workers that died (e.g. killed by the OOM killer).
  void respawn_dead() {
    for (std::size_t i = 0; i < workers_.size(); ++i) {
      if (!workers_[i].running() || !workers_[i].poll()) continue;
      spdlog::warn("local worker {} (pid {}) {}; restarting it", i, workers_[i].pid(), workers_[i].exit_status()->describe());
      workers_[i] = spawn(static_cast<int>(i));
    }
  }
  // Waits up to `seconds` for workers to exit (after SHUTDOWN), then kills the rest.
  void stop(double seconds = 5.0) {
    const auto until = std::chrono::steady_clock::now() +
                       std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(seconds));
    for (auto& worker : workers_)
      if (worker.running() && !worker.wait_until(until)) worker.kill();
  }

 private:
  process::Child spawn(int index) const {
    process::ChildSpec spec;
    spec.argv = {std::filesystem::read_symlink("/proc/self/exe").string(),
                 "worker",
                 "--connect",
                 endpoint_,
                 "--slots",
                 "1",
                 "--id",
                 "local-" + std::to_string(::getpid()) + "-" + std::to_string(index),
                 "--workdir",
                 workdir_.string(),
                 "--heartbeat-ms",
                 std::to_string(heartbeat_ms_),
                 "--log-level",
                 "warn"};
    spec.exec_failure = "lorafarm sweep: cannot start a local worker";
    return process::Child(spec);  // PR_SET_PDEATHSIG: dies with this (the main) thread
  }

  std::string endpoint_;
  std::filesystem::path workdir_;
  int heartbeat_ms_;
  std::vector<process::Child> workers_;
};

std::string progress_line(const coordinator::ProgressSnapshot& p) {
  std::ostringstream s;
  s << "trials " << p.completed + p.failed + p.pruned << "/" << p.budget << " done (" << p.completed << " ok, " << p.failed << " failed";
  if (p.pruned) s << ", " << p.pruned << " pruned";
  s << "), " << p.running << " running, " << p.workers << " worker(s)";
  if (p.best) s << ", best " << std::setprecision(6) << *p.best;
  s << ", " << std::fixed << std::setprecision(0) << p.elapsed_seconds << "s";
  if (p.stopping) s << " [stopping]";
  return s.str();
}

void install_interrupt_handlers() {
  struct sigaction action {};
  action.sa_handler = on_sweep_signal;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
}

// Local workers write their trial folders beside the database unless told
// otherwise, so adapters outlive the sweep (docs/store.md).
std::filesystem::path local_workdir(const SweepOptions& options) {
  if (!options.workdir.empty()) return options.workdir;
  return schema::trial_workdir(schema::default_artifact_dir(options.db));
}

coordinator::CoordinatorOptions coordinator_options(const SweepOptions& options) {
  coordinator::CoordinatorOptions co;
  co.db_path = options.db;
  co.insecure = options.insecure;
  if (!options.curve_key.empty() || !options.allow.empty()) {
    if (options.bind.empty()) throw std::runtime_error("--curve-key and --allow secure a --bind endpoint; local workers need no keys");
    if (options.curve_key.empty() || options.allow.empty())
      throw std::runtime_error("CURVE needs both --curve-key (this coordinator's .key) and --allow (the workers' .pub files)");
    co.curve = schema::load_curve_key_pair(options.curve_key);
    co.allowed_workers = schema::load_curve_allow_list(options.allow);
  }
  co.heartbeat_ms = options.heartbeat_ms;
  co.liveness = options.liveness;
  co.extend_budget = options.extend_budget;
  co.durability = options.durability == "full" ? schema::Store::Durability::Full : schema::Store::Durability::Normal;
  co.interrupts = &g_interrupts;
  co.bind = options.bind;
  co.infeasible_after_seconds = options.infeasible_after;
  if (options.bind.empty()) co.local_workdir = local_workdir(options);
  co.max_artifact_bytes = options.max_artifact_mb << 20;
  co.artifact_wait_seconds = options.artifact_wait_seconds;
  return co;
}

// A private temp folder for the local ipc:// socket; removed with the object.
class LocalSocketDir {
 public:
  LocalSocketDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "lorafarm-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("cannot create a temp folder for the local socket");
    path_ = pattern;
  }
  ~LocalSocketDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  LocalSocketDir(const LocalSocketDir&) = delete;
  LocalSocketDir& operator=(const LocalSocketDir&) = delete;
  std::string endpoint() const { return "ipc://" + (path_ / "coordinator.sock").string(); }

 private:
  std::filesystem::path path_;
};

std::unique_ptr<dashboard::DashboardServer> start_dashboard(const SweepOptions& options) {
  dashboard::DashboardOptions d;
  d.db = options.db;
  d.port = options.dashboard_port;
  d.read_only = true;
  d.artifacts = options.workdir.empty() ? schema::default_artifact_dir(options.db) : std::filesystem::path(options.workdir);
  auto dashboard = std::make_unique<dashboard::DashboardServer>(d);
  dashboard->start();
  std::cerr << "dashboard on " << dashboard->url() << std::endl;
  return dashboard;
}

// Prints the ended experiment's summary table (or JSON).
void print_summary(const SweepOptions& options, const coordinator::RunOutcome& outcome) {
  auto store = schema::Store::open_reader(options.db);
  for (const auto& e : store.experiments()) {
    if (e.id != outcome.experiment_id) continue;
    const auto summary = report::summarize(store, e);
    if (options.json) {
      auto out = report::to_json(summary);
      out["dropped_messages"] = outcome.dropped_messages;
      std::cout << out.dump(2) << "\n";
    } else {
      std::cout << report::render_table(summary);
    }
  }
}

int run_sweep(const SweepOptions& options) {
  spdlog::set_level(spdlog::level::from_str(options.log_level));
  require_file("spec", options.spec);
  auto spec = schema::load_sweep_spec(options.spec);
  install_interrupt_handlers();

  auto co = coordinator_options(options);
  co.predict_peak_mb = engine_peak_predictor(spec);
  std::optional<LocalSocketDir> socket_dir;
  if (options.bind.empty()) co.bind = socket_dir.emplace().endpoint();

  const bool tty = stderr_is_terminal();
  double last_plain = -1e9;
  std::unique_ptr<LocalWorkers> workers;
  co.on_progress = [&](const coordinator::ProgressSnapshot& p) {
    if (workers && !p.stopping) workers->respawn_dead();
    if (options.json) return;
    if (tty) {
      std::cerr << "\r\033[K" << progress_line(p) << std::flush;
    } else if (p.elapsed_seconds - last_plain >= 10) {
      std::cerr << progress_line(p) << "\n";
      last_plain = p.elapsed_seconds;
    }
  };

  const schema::SweepSpec base_spec = spec;  // scores the base model's reference row (cli/base_row.h)
  coordinator::Coordinator coord(std::move(spec), co);
  if (!options.bind.empty()) std::cerr << "coordinator listening on " << coord.endpoint() << "\n";
  // The live dashboard, read-only, on its own threads of this process (docs/dashboard.md).
  std::unique_ptr<dashboard::DashboardServer> dashboard;
  if (options.dashboard) dashboard = start_dashboard(options);
  coordinator::RunOutcome outcome;
  if (coord.has_work()) {
    // Once per experiment, before any trial competes for the cores.
    store_base_row_once(options.db, coord.experiment_id(), base_spec, options.json);
    if (options.bind.empty()) {
      const int n = options.workers > 0 ? options.workers : std::max(1u, std::thread::hardware_concurrency());
      workers = std::make_unique<LocalWorkers>(coord.endpoint(), local_workdir(options), options.heartbeat_ms);
      workers->start(n);
    }
    outcome = coord.run();
    if (tty && !options.json) std::cerr << "\n";
    if (workers) workers->stop();
  } else {
    outcome.experiment_id = coord.experiment_id();
    outcome.finished = true;
    std::cerr << "experiment already finished (use --extend-budget N to add trials)\n";
  }
  socket_dir.reset();
  print_summary(options, outcome);
  return outcome.interrupted ? kExitInterrupted : kExitOk;
}

}  // namespace

Command add_sweep_command(CLI::App& root) {
  auto options = std::make_shared<SweepOptions>();
  CLI::App* app = root.add_subcommand("sweep", "Run or resume a sweep described by a spec file");
  app->add_option("spec", options->spec, "Sweep spec (JSON, comments allowed)")->required();
  app->add_option("--db", options->db, "Database file (created if missing; an existing experiment is resumed)");
  app->add_option("--workers", options->workers, "Local worker agents to start (default: one per core; ignored with --bind)")
      ->check(CLI::Range(1, 4096));
  app->add_option("--bind", options->bind, "Listen for remote workers instead, e.g. tcp://0.0.0.0:5555");
  app->add_flag("--insecure", options->insecure, "Allow a non-loopback --bind without authentication");
  app->add_option("--curve-key", options->curve_key, "This coordinator's CURVE key pair (.key of lorafarm keygen); needs --allow")
      ->check(CLI::ExistingFile);
  app->add_option("--allow", options->allow, "Workers admitted: a folder of .pub files or a file of public keys")->check(CLI::ExistingPath);
  app->add_option("--extend-budget", options->extend_budget, "Add N trials to a resumed experiment")->check(CLI::NonNegativeNumber);
  app->add_option("--heartbeat-ms", options->heartbeat_ms, "Heartbeat interval; a worker silent for liveness x this loses its trials")
      ->check(CLI::Range(10, 60000));
  app->add_option("--infeasible-after", options->infeasible_after,
                  "Seconds after the first worker connects before a trial too big for every connected worker is INFEASIBLE "
                  "(default: 2 x heartbeat x liveness)")
      ->check(CLI::NonNegativeNumber);
  app->add_option("--liveness", options->liveness, "Heartbeats missed before a worker counts as dead")->check(CLI::Range(1, 100));
  app->add_option("--durability", options->durability, "normal: survives process crashes; full: fsync every commit")
      ->check(CLI::IsMember({"normal", "full"}));
  app->add_option("--workdir", options->workdir, "Local workers' trial folders (default: DB-artifacts/trials beside --db, kept)");
  app->add_option("--log-level", options->log_level, "trace, debug, info, warn, error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  app->add_option("--max-artifact-mb", options->max_artifact_mb,
                  "Largest artifact file fetched from a remote worker into the store (MiB, per file); bigger ones stay there")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{1} << 30))
      ->capture_default_str();
  app->add_option("--artifact-wait-seconds", options->artifact_wait_seconds,
                  "After the last trial, wait at most this long for connected workers to send their artifacts home")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app->add_flag("--json", options->json, "Print the final summary as JSON (and no progress line)");
  app->add_flag("--dashboard", options->dashboard, "Serve the live dashboard (read-only) while the sweep runs");
  app->add_option("--dashboard-port", options->dashboard_port, "Dashboard TCP port (0 = any free port)")->check(CLI::Range(0, 65535));
  app->footer(
      "Examples:\n  lorafarm sweep examples/command_sweep.json --workers 4\n"
      "  lorafarm sweep spec.json --bind tcp://0.0.0.0:5555 --curve-key keys/coordinator.key --allow keys/workers\n"
      "      # then on each worker: lorafarm worker --connect tcp://HOST:5555 --curve-key node1.key --server-key coordinator.pub\n"
      "  lorafarm sweep spec.json --bind tcp://10.0.0.5:5555 --insecure   # a network you trust, no keys");
  return {app, [options] { return run_sweep(*options); }};
}

}  // namespace lorafarm::cli
