// Dispatch throughput through the whole stack: an in-process coordinator with
// its SQLite store, N worker-agent processes on ipc://, and a real child
// process per trial. Phase 1: no-op trials per second. Phase 2: intermediate
// reports (PROGRESS, each answered and stored) per second. Prints JSON.
//
//   build/dispatch_bench [--trials 2000] [--workers 8] [--reports 20000] [--durability normal|full]
// Also prints the host's spawn ceiling (/bin/echo spawned and reaped with
// no orchestrator) and the fraction of it the orchestrator reaches.
#include <signal.h>
#include <fcntl.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "coordinator/coordinator.h"
#include "schema/store.h"
#include "schema/sweep_spec.h"
#include "worker/agent.h"

extern char** environ;

namespace {

using nlohmann::json;
using namespace lorafarm;

struct Phase {
  double seconds = 0;
  std::int64_t completed = 0;
  std::int64_t reports = 0;
};

Phase run_phase(const std::string& name, int trials, int workers, const json& command, schema::Store::Durability durability) {
  std::string pattern = (std::filesystem::temp_directory_path() / "lorafarm-bench-XXXXXX").string();
  if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  const std::filesystem::path dir = pattern;
  const std::string endpoint = "ipc://" + (dir / "c.sock").string();

  // Workers first, before this process has any ZeroMQ threads to fork.
  std::vector<pid_t> pids;
  for (int i = 0; i < workers; ++i) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      spdlog::set_level(spdlog::level::warn);
      worker::WorkerOptions o;
      o.endpoint = endpoint;
      o.id = "bench-" + std::to_string(i);
      o.workdir = dir / ("w" + std::to_string(i));
      o.self_exe = "/bin/false";
      o.heartbeat_ms = 1000;
      try {
        worker::WorkerAgent(o).run();
      } catch (const std::exception& e) {
        std::cerr << "worker: " << e.what() << "\n";
      }
      ::_exit(0);
    }
    pids.push_back(pid);
  }

  const json doc{{"name", name},
                 {"budget", {{"trials", trials}}},
                 {"search_space", {{"x", {{"type", "float"}, {"low", 0}, {"high", 1}}}}},
                 {"trial", {{"kind", "command"}, {"command", command}}}};
  coordinator::CoordinatorOptions o;
  o.db_path = dir / "bench.db";
  o.bind = endpoint;
  o.durability = durability;
  coordinator::Coordinator c(schema::parse_sweep_spec(doc.dump(), dir), o);
  const auto start = std::chrono::steady_clock::now();
  const auto outcome = c.run();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // A worker whose HELLO arrived after the last trial finished never hears
  // SHUTDOWN (workers wait for a coordinator by design): give the others a
  // moment to leave, then stop the rest.
  const auto grace_end = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  for (pid_t pid : pids) {
    while (::waitpid(pid, nullptr, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() >= grace_end) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  Phase p;
  p.seconds = seconds;
  {
    auto store = schema::Store::open_reader(o.db_path);
    p.completed = store.count_results(outcome.experiment_id);
    auto s = store.database().prepare("SELECT COUNT(*) FROM metrics");
    if (s.step()) p.reports = s.int64(0);
  }
  std::filesystem::remove_all(dir);
  return p;
}

// The host's ceiling: the same /bin/echo spawned and reaped as fast as one
// thread per core can, with no coordinator, worker or database. Process
// creation cost varies a lot between machines (and VMs); the ratio of the
// orchestrator's rate to this one does not.
double spawn_ceiling_per_second(int spawns) {
  const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back([n = spawns / static_cast<int>(threads)] {
      posix_spawn_file_actions_t actions;
      ::posix_spawn_file_actions_init(&actions);
      ::posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
      char echo[] = "/bin/echo";
      char text[] = R"({"final": true, "val_loss": 0})";
      char* argv[] = {echo, text, nullptr};
      for (int i = 0; i < n; ++i) {
        pid_t pid = 0;
        if (::posix_spawn(&pid, echo, &actions, nullptr, argv, environ) == 0) ::waitpid(pid, nullptr, 0);
      }
      ::posix_spawn_file_actions_destroy(&actions);
    });
  }
  for (auto& t : pool) t.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return (spawns / static_cast<int>(threads)) * static_cast<int>(threads) / seconds;
}

}  // namespace

int main(int argc, char** argv) {
  int trials = 2000, workers = 8, reports = 20000;
  std::string durability = "normal";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i];
    if (key == "--trials") trials = std::atoi(argv[i + 1]);
    else if (key == "--workers") workers = std::atoi(argv[i + 1]);
    else if (key == "--reports") reports = std::atoi(argv[i + 1]);
    else if (key == "--durability") durability = argv[i + 1];
  }
  spdlog::set_level(spdlog::level::warn);
  const auto d = durability == "full" ? schema::Store::Durability::Full : schema::Store::Durability::Normal;

  // Phase 1: each trial is one exec of /bin/echo printing its final line.
  const auto noop = run_phase("noop", trials, workers, json::array({"/bin/echo", R"({"final": true, "val_loss": 0})"}), d);
  // Phase 2: each of `workers` trials prints reports/workers intermediate lines.
  const int per_trial = std::max(1, reports / workers);
  const std::string awk = "BEGIN { for (i = 0; i < " + std::to_string(per_trial) +
                          "; i++) printf \"{\\\"step\\\": %d, \\\"val_loss\\\": 1.5}\\n\", i; print \"{\\\"final\\\": true, \\\"val_loss\\\": 1}\" }";
  const auto progress = run_phase("reports", workers, workers, json::array({"/usr/bin/awk", awk}), d);

  const double ceiling = spawn_ceiling_per_second(trials);

  const json out{{"benchmark", "dispatch"},
                 {"workers", workers},
                 {"durability", durability},
                 {"noop_trials", noop.completed},
                 {"noop_seconds", noop.seconds},
                 {"trials_per_second", noop.completed / noop.seconds},
                 {"spawn_ceiling_per_second", ceiling},
                 {"fraction_of_spawn_ceiling", noop.completed / noop.seconds / ceiling},
                 {"reports", progress.reports},
                 {"reports_seconds", progress.seconds},
                 {"reports_per_second", progress.reports / progress.seconds},
                 {"cores", std::thread::hardware_concurrency()}};
  std::cout << out.dump(2) << std::endl;
  return noop.completed == trials ? 0 : 1;
}
