// `lorafarm sweep / worker / status / trials` end to end, as real processes.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <nlohmann/json.hpp>
#include <map>
#include <random>
#include <set>

#include "cli/background_process.h"
#include "schema/store.h"
#include "test_support.h"

namespace lorafarm::testing {

int free_tcp_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

namespace {

using ::testing::HasSubstr;
using nlohmann::json;

json read_json(const std::string& text) { return json::parse(text); }

TEST(SweepCli, RunsTheCommandExampleWithLocalWorkersAndReports) {
  ScratchDir dir;
  const auto db = (dir / "demo.db").string();
  const auto spec = (source_dir() / "examples/command_sweep.json").string();
  const auto r = run_lorafarm({"sweep", spec, "--db", db, "--workers", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The closing table has one row per method.
  EXPECT_THAT(r.out, HasSubstr("method"));
  for (const char* m : {"lora", "dora", "full"}) EXPECT_THAT(r.out, HasSubstr(m));

  const auto status = run_lorafarm({"status", "command-demo", "--db", db, "--json"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  const auto s = read_json(status.out);
  EXPECT_EQ(s["status"], "FINISHED");
  EXPECT_EQ(s["counts"]["COMPLETED"], 24);
  EXPECT_LT(s["best"]["objective"].get<double>(), 3.0);

  const auto trials = run_lorafarm({"trials", "command-demo", "--db", db, "--json"});
  ASSERT_EQ(trials.exit_code, 0) << trials.err;
  const auto t = read_json(trials.out);
  ASSERT_EQ(t.size(), 24u);
  std::set<std::uint64_t> seeds;
  for (const auto& row : t) {
    seeds.insert(row["seed"].get<std::uint64_t>());
    EXPECT_GT(row["peak_rss_mb"].get<double>(), 1.0);
    EXPECT_TRUE(row["metrics"].contains("val_ppl"));
    if (row["params"]["method"] == "full") EXPECT_FALSE(row["params"].contains("rank"));
  }
  EXPECT_EQ(seeds.size(), 24u);

  const auto csv = run_lorafarm({"trials", "command-demo", "--db", db, "--csv"});
  ASSERT_EQ(csv.exit_code, 0);
  EXPECT_EQ(std::count(csv.out.begin(), csv.out.end(), '\n'), 25);
  EXPECT_THAT(csv.out, HasSubstr("trial,status,attempt,objective"));

  // Learning curves and artifacts landed in the database.
  auto store = schema::Store::open_reader(db);
  const auto e = store.find_experiment("command-demo");
  const auto first = store.trials(e->id).at(0);
  EXPECT_GE(store.metrics(first.id).size(), 20u);
  const auto artifacts = store.artifacts(first.id);
  ASSERT_EQ(artifacts.size(), 1u);
  EXPECT_EQ(artifacts[0].sha256.size(), 64u);

  // Running the same command again finds the experiment finished.
  const auto again = run_lorafarm({"sweep", spec, "--db", db, "--workers", "1"});
  EXPECT_EQ(again.exit_code, 0);
  EXPECT_THAT(again.err, HasSubstr("already finished"));
  EXPECT_EQ(store.trials(e->id).size(), 24u);
  // --extend-budget adds trials to it.
  const auto extended = run_lorafarm({"sweep", spec, "--db", db, "--workers", "2", "--extend-budget", "3"});
  ASSERT_EQ(extended.exit_code, 0) << extended.err;
  EXPECT_EQ(store.trials(e->id).size(), 27u);
}

// Must-show 3: a trial that segfaults, one that times out, one that exits
// non-zero and one that prints garbage are each recorded with their cause.
TEST(SweepCli, RecordsEachKindOfTrialFailureWithItsCause) {
  ScratchDir dir;
  write_file(dir / "trial.py", R"(
import json, os, signal, sys, time
kind = json.load(sys.stdin)["behaviour"]
if kind == "segfault": os.kill(os.getpid(), signal.SIGSEGV)
if kind == "hang": time.sleep(60)
if kind == "exit":
    print("disk full, giving up", file=sys.stderr)
    sys.exit(4)
if kind == "garbage":
    print("\x07\x08 ###")
    sys.exit(0)
print(json.dumps({"final": True, "val_loss": 1.0}))
)");
  write_file(dir / "spec.json", R"({
    "name": "failures", "budget": {"trials": 10}, "search": {"algorithm": "grid", "shuffle": false},
    "search_space": {"behaviour": {"type": "categorical", "values": ["ok", "segfault", "hang", "exit", "garbage"]}},
    "trial": {"kind": "command", "command": ["python3", "{spec_dir}/trial.py"], "timeout_seconds": 4}
  })");
  // The timeout is generous: Python can take a second to start on a loaded
  // two-core machine, and "ok" must not time out.
  const auto db = (dir / "f.db").string();
  const auto r = run_lorafarm({"sweep", (dir / "spec.json").string(), "--db", db, "--workers", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto t = read_json(run_lorafarm({"trials", "failures", "--db", db, "--json"}).out);
  ASSERT_EQ(t.size(), 5u);  // the grid has 5 points
  std::map<std::string, json> by;
  for (const auto& row : t) by[row["params"]["behaviour"]] = row;
  EXPECT_EQ(by["ok"]["status"], "COMPLETED");
  EXPECT_EQ(by["segfault"]["status"], "FAILED");
  EXPECT_THAT(by["segfault"]["error"].get<std::string>(), HasSubstr("signal 11"));
  EXPECT_EQ(by["hang"]["status"], "FAILED");
  EXPECT_THAT(by["hang"]["error"].get<std::string>(), HasSubstr("timeout"));
  EXPECT_EQ(by["exit"]["status"], "FAILED");
  EXPECT_THAT(by["exit"]["error"].get<std::string>(), HasSubstr("exited with status 4"));
  EXPECT_THAT(by["exit"]["error"].get<std::string>(), HasSubstr("disk full"));
  EXPECT_EQ(by["garbage"]["status"], "FAILED");
  EXPECT_THAT(by["garbage"]["error"].get<std::string>(), HasSubstr("bad_output"));

  // The failure events keep what the worker knew, and null for what it did
  // not: a process killed by a signal has no exit code, one that exited no signal.
  auto store = schema::Store::open_reader(db);
  std::map<std::int64_t, std::string> behaviour_of;
  for (const auto& row : t) behaviour_of[row["trial"].get<std::int64_t>()] = row["params"]["behaviour"];
  std::map<std::string, json> failed;
  for (const auto& e : store.events(store.find_experiment("failures")->id))
    if (e.kind == "TRIAL_FAILED" && e.trial_number) failed[behaviour_of.at(*e.trial_number)] = e.detail;
  ASSERT_EQ(failed.size(), 4u);
  EXPECT_TRUE(failed["segfault"]["exit_code"].is_null()) << failed["segfault"].dump();
  EXPECT_EQ(failed["segfault"]["signal"], 11);
  EXPECT_EQ(failed["exit"]["exit_code"], 4);
  EXPECT_TRUE(failed["exit"]["signal"].is_null()) << failed["exit"].dump();
  EXPECT_EQ(failed["garbage"]["exit_code"], 0);
  EXPECT_TRUE(failed["hang"]["exit_code"].is_null()) << failed["hang"].dump();
  for (const auto& [behaviour, detail] : failed) EXPECT_GT(detail["peak_rss_mb"].get<double>(), 1.0) << behaviour;
}

TEST(SweepCli, ASpecMistakeIsOneLineAndExitCodeOne) {
  ScratchDir dir;
  write_file(dir / "bad.json", R"({"name": "x", "budget": {"trials": 0}, "search_space": {}, "trial": {"kind": "command", "command": ["true"]}})");
  const auto r = run_lorafarm({"sweep", (dir / "bad.json").string(), "--db", (dir / "x.db").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("budget.trials"));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1);
  const auto s = run_lorafarm({"status", "--db", (dir / "missing.db").string()});
  EXPECT_NE(s.exit_code, 0);
}

// A sweep whose trials are short shell commands, on an explicit TCP port so
// separate worker processes can join, die and come back.
struct ChaosSweep {
  ScratchDir dir;
  int port = free_tcp_port();
  std::string endpoint = "tcp://127.0.0.1:" + std::to_string(port);
  std::string db = (dir / "chaos.db").string();
  std::string spec = (dir / "spec.json").string();

  static constexpr const char* kShortTrials =
      "sleep 0.0$(( $LORAFARM_TRIAL % 7 + 2 )); echo '{\"step\": 1, \"val_loss\": 2}'; echo '{\"final\": true, \"val_loss\": '{x}'}'";

  explicit ChaosSweep(int trials, const std::string& command = kShortTrials) {
    write_file(dir / "spec.json", json{{"name", "chaos"},
                                       {"seed", 3},
                                       {"budget", {{"trials", trials}, {"max_attempts", 10}}},
                                       {"search_space", {{"x", {{"type", "float"}, {"low", 0}, {"high", 1}}}}},
                                       {"trial",
                                         {{"kind", "command"}, {"command", command}, {"timeout_seconds", 30}}}}
                                      .dump());
  }
  std::unique_ptr<BackgroundProcess> coordinator() {
    return std::make_unique<BackgroundProcess>(
        std::vector<std::string>{lorafarm_binary().string(), "sweep", spec, "--db", db, "--bind", endpoint, "--heartbeat-ms", "100",
                                 "--liveness", "3", "--log-level", "info"},
        dir / "coordinator.log");
  }
  // `incarnation` > 0 names a restarted worker's log apart from the first one's.
  std::unique_ptr<BackgroundProcess> worker(int i, int incarnation = 0) {
    return std::make_unique<BackgroundProcess>(
        std::vector<std::string>{lorafarm_binary().string(), "worker", "--connect", endpoint, "--id", "w" + std::to_string(i), "--workdir",
                                 (dir / ("work" + std::to_string(i))).string(), "--heartbeat-ms", "100"},
        worker_log(i, incarnation));
  }
  std::filesystem::path worker_log(int i, int incarnation = 0) const {
    return dir / ("worker" + std::to_string(i) + (incarnation > 0 ? "." + std::to_string(incarnation) : "") + ".log");
  }
  // True once that worker's log says the coordinator welcomed it.
  bool wait_for_welcome(int i, int incarnation, double seconds) const {
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < until) {
      if (std::filesystem::exists(worker_log(i, incarnation)) &&
          read_file(worker_log(i, incarnation)).find(": connected to ") != std::string::npos)
        return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  std::int64_t completed() {
    try {
      auto store = schema::Store::open_reader(db);
      const auto e = store.find_experiment("chaos");
      return e ? store.count_results(e->id) : 0;
    } catch (const std::exception&) {
      return 0;
    }
  }
  void wait_for_completed(std::int64_t n, double seconds) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (completed() < n && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // Every trial COMPLETED exactly once, results counted once, the file intact.
  void check_exactly_once(int trials) {
    auto store = schema::Store::open_reader(db);
    const auto e = store.find_experiment("chaos");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->status, "FINISHED");
    const auto all = store.trials(e->id);
    ASSERT_EQ(all.size(), static_cast<std::size_t>(trials));
    for (const auto& t : all) {
      EXPECT_EQ(t.status, schema::TrialStatus::Completed) << "trial " << t.number << ": " << t.error;
      const auto r = store.result(t.id);
      ASSERT_TRUE(r) << t.number;
      EXPECT_EQ(r->attempt, t.attempt);
      EXPECT_DOUBLE_EQ(*t.objective, t.params["x"].get<double>());
    }
    EXPECT_EQ(store.count_results(e->id), trials);
    EXPECT_TRUE(store.integrity_ok());
  }
};

void kill_each_worker_once_and_restart(int trials) {
  // The last tenth of the trials wait for a gate file, so the sweep cannot
  // end before the last replacement worker has joined: one that joined after
  // the end would never hear SHUTDOWN and would wait for a coordinator (as a
  // farm worker should). Slow builds (sanitizers) start workers late enough
  // for that to happen.
  const int gated_from = trials - trials / 10;
  ScratchDir gate_dir;
  const std::string gate = (gate_dir / "gate").string();
  ChaosSweep sweep(trials, "[ $LORAFARM_TRIAL -lt " + std::to_string(gated_from) + " ] || while [ ! -e " + gate +
                               " ]; do sleep 0.02; done; " + ChaosSweep::kShortTrials);
  auto coordinator = sweep.coordinator();
  std::vector<std::unique_ptr<BackgroundProcess>> workers;
  for (int i = 0; i < 4; ++i) workers.push_back(sweep.worker(i));
  std::mt19937 rng(11);
  for (int i = 0; i < 4; ++i) {
    // Kill worker i at a random point of the sweep's progress, then restart it.
    const int at = static_cast<int>(trials * (0.1 + 0.2 * i) + std::uniform_int_distribution<int>(0, trials / 10)(rng));
    sweep.wait_for_completed(at, 60);
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 40)(rng)));
    workers[i]->signal(SIGKILL);
    workers[i]->wait(5);
    workers[i] = sweep.worker(i, 1);
    ASSERT_TRUE(sweep.wait_for_welcome(i, 1, 60)) << read_file(sweep.worker_log(i, 1));
  }
  write_file(gate, "");
  const auto code = coordinator->wait(180);
  ASSERT_TRUE(code) << read_file(sweep.dir / "coordinator.log");
  EXPECT_EQ(*code, 0) << read_file(sweep.dir / "coordinator.log");
  sweep.check_exactly_once(trials);
  auto store = schema::Store::open_reader(sweep.db);
  const auto e = store.find_experiment("chaos");
  int lost = 0;
  std::set<std::string> workers_seen;
  for (const auto& a : store.attempts(e->id)) {
    lost += a.status == schema::TrialStatus::Lost;
    workers_seen.insert(a.worker);
  }
  EXPECT_GE(lost, 1);  // killed workers held trials; their attempts are recorded LOST
  EXPECT_EQ(workers_seen.size(), 4u);
  for (auto& w : workers) EXPECT_TRUE(w->wait(10)) << "worker did not exit after SHUTDOWN";
}

// Must-show 1 (fast variant): 4 workers, each SIGKILLed once and restarted.
TEST(SweepChaos, EveryTrialCompletesExactlyOnceWhenWorkersAreKilled) { kill_each_worker_once_and_restart(40); }

// Must-show 1 at full size: 200 trials.
TEST(SweepChaosSlow, TwoHundredTrialsSurviveEachWorkerKilledOnce) { kill_each_worker_once_and_restart(200); }

// Sockets (TCP connections and the listener) the process holds open.
int open_sockets(pid_t pid) {
  int n = 0;
  for (const auto& fd : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
    std::error_code ec;
    const auto target = std::filesystem::read_symlink(fd.path(), ec);
    n += !ec && target.string().rfind("socket:", 0) == 0;
  }
  return n;
}

// A worker replaced under the same --id must not leave its old connection
// open in the coordinator. With the worker id as the ZeroMQ routing id and
// ROUTER_HANDOVER, libzmq kept one socket in CLOSE_WAIT (and its buffers) for
// every replacement that connected while the old process was still finishing
// its trial, until the coordinator ran out of descriptors.
TEST(SweepChaos, ReplacingAWorkerLeavesNoConnectionBehind) {
  ChaosSweep sweep(100000, "sleep 0.$(( $LORAFARM_TRIAL % 5 + 4 )); echo '{\"final\": true, \"val_loss\": '{x}'}'");
  auto coordinator = sweep.coordinator();
  std::vector<std::unique_ptr<BackgroundProcess>> workers;
  for (int i = 0; i < 4; ++i) workers.push_back(sweep.worker(i));
  sweep.wait_for_completed(4, 30);
  const int before = open_sockets(coordinator->pid());
  constexpr int kReplacements = 16;
  std::vector<std::unique_ptr<BackgroundProcess>> draining;
  for (int n = 0; n < kReplacements; ++n) {
    // SIGTERM: the old process finishes its trial and exits; its
    // replacement starts at once.
    auto& worker = workers[static_cast<std::size_t>(n % 4)];
    worker->signal(SIGTERM);
    draining.push_back(std::move(worker));
    worker = sweep.worker(n % 4);
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  for (auto& old : draining) EXPECT_TRUE(old->wait(20)) << "a replaced worker did not exit";
  const auto done = sweep.completed();
  sweep.wait_for_completed(done + 8, 30);  // the replacements work
  EXPECT_GE(sweep.completed(), done + 8);
  const int after = open_sockets(coordinator->pid());
  EXPECT_LE(after, before + 1) << "sockets before " << before << ", after " << kReplacements << " replacements " << after;
}

// Must-show 2: the coordinator is SIGKILLed mid-sweep and started again with
// the same command; workers reconnect and keep their running trials.
TEST(SweepChaos, CoordinatorKilledMidSweepResumesWithoutLosingOrDuplicating) {
  const int trials = 60;
  ChaosSweep sweep(trials);
  auto coordinator = sweep.coordinator();
  std::vector<std::unique_ptr<BackgroundProcess>> workers;
  for (int i = 0; i < 3; ++i) workers.push_back(sweep.worker(i));
  sweep.wait_for_completed(trials / 3, 60);
  coordinator->signal(SIGKILL);
  EXPECT_EQ(coordinator->wait(5), -SIGKILL);
  const auto before = sweep.completed();
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  coordinator = sweep.coordinator();
  const auto code = coordinator->wait(120);
  ASSERT_TRUE(code) << read_file(sweep.dir / "coordinator.log");
  EXPECT_EQ(*code, 0) << read_file(sweep.dir / "coordinator.log");
  EXPECT_GE(sweep.completed(), before);
  sweep.check_exactly_once(trials);
  auto store = schema::Store::open_reader(sweep.db);
  std::set<std::string> kinds;
  for (const auto& ev : store.events(store.find_experiment("chaos")->id)) kinds.insert(ev.kind);
  EXPECT_TRUE(kinds.count("RESUMED"));
  for (auto& w : workers) EXPECT_TRUE(w->wait(10));
}

// The same with local workers: they die with the sweep, and the restarted
// sweep re-queues what they were running.
TEST(SweepChaos, LocalSweepKilledAndRestartedFinishes) {
  const int trials = 30;
  ChaosSweep sweep(trials);
  auto first = std::make_unique<BackgroundProcess>(
      std::vector<std::string>{lorafarm_binary().string(), "sweep", sweep.spec, "--db", sweep.db, "--workers", "3", "--heartbeat-ms", "100"},
      sweep.dir / "local1.log");
  sweep.wait_for_completed(trials / 3, 60);
  first->signal(SIGKILL);
  first->wait(5);
  const auto r = run_lorafarm({"sweep", sweep.spec, "--db", sweep.db, "--workers", "3", "--heartbeat-ms", "100"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  sweep.check_exactly_once(trials);
}

TEST(SweepCli, FirstInterruptStopsDispatchingAndLeavesTheDatabaseConsistent) {
  ChaosSweep sweep(100000);
  auto coordinator = std::make_unique<BackgroundProcess>(
      std::vector<std::string>{lorafarm_binary().string(), "sweep", sweep.spec, "--db", sweep.db, "--workers", "2"}, sweep.dir / "int.log");
  sweep.wait_for_completed(5, 60);
  coordinator->signal(SIGINT);
  const auto code = coordinator->wait(30);
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 130);
  auto store = schema::Store::open_reader(sweep.db);
  const auto e = store.find_experiment("chaos");
  EXPECT_EQ(e->status, "INTERRUPTED");
  for (const auto& t : store.trials(e->id)) EXPECT_NE(t.status, schema::TrialStatus::Running) << t.number;
  EXPECT_TRUE(store.integrity_ok());
}

}  // namespace
}  // namespace lorafarm::testing
