// A sweep across "hosts": the coordinator and two workers each in a network
// namespace of their own, joined by veth links, talking tcp with CURVE on
// (issue 7, must-show 5). One worker's link is cut mid-trial; its trial is
// re-queued to the other and the sweep completes. A second sweep trains
// adapters on both "hosts" and shows they came home (issue 19, item 1). Needs
// root (CAP_NET_ADMIN) and iproute2; skipped with the reason otherwise.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <set>

#include "cli/background_process.h"
#include "report/summary.h"
#include "schema/store.h"
#include "test_support.h"

namespace lorafarm::testing {
namespace {

using nlohmann::json;

const char* kIp = "/usr/sbin/ip";

ProcessResult ip(std::vector<std::string> args) {
  args.insert(args.begin(), kIp);
  return run_process(args);
}

// Three namespaces (coordinator, worker a, worker b) and a veth link from the
// coordinator to each worker, 10.77.1.0/24 and 10.77.2.0/24. Removed on
// destruction (deleting a namespace deletes its veth ends).
class ThreeHosts {
 public:
  ThreeHosts() {
    const std::string tag = "lf" + std::to_string(::getpid() % 100000);
    coordinator_ = tag + "c";
    workers_ = {tag + "a", tag + "b"};
    if (!std::filesystem::exists(kIp)) {
      why_not_ = std::string(kIp) + " not found (Debian package iproute2)";
      return;
    }
    for (const auto& ns : {coordinator_, workers_[0], workers_[1]}) {
      const auto r = ip({"netns", "add", ns});
      if (r.exit_code != 0) {
        why_not_ = "cannot make network namespaces here (needs root / CAP_NET_ADMIN): " + r.err;
        return;
      }
      made_.push_back(ns);
      run({"-n", ns, "link", "set", "lo", "up"});
    }
    for (int i = 0; i < 2; ++i) {
      const std::string subnet = "10.77." + std::to_string(i + 1) + ".";
      run({"link", "add", "c" + std::to_string(i), "netns", coordinator_, "type", "veth", "peer", "name", "w" + std::to_string(i), "netns",
           workers_[i]});
      run({"-n", coordinator_, "addr", "add", subnet + "1/24", "dev", "c" + std::to_string(i)});
      run({"-n", workers_[i], "addr", "add", subnet + "2/24", "dev", "w" + std::to_string(i)});
      run({"-n", coordinator_, "link", "set", "c" + std::to_string(i), "up"});
      run({"-n", workers_[i], "link", "set", "w" + std::to_string(i), "up"});
    }
  }
  ~ThreeHosts() {
    for (const auto& ns : made_) ip({"netns", "delete", ns});
  }
  ThreeHosts(const ThreeHosts&) = delete;
  ThreeHosts& operator=(const ThreeHosts&) = delete;

  const std::string& why_not() const { return why_not_; }
  // The coordinator's address as worker i sees it.
  std::string coordinator_address(int i) const { return "10.77." + std::to_string(i + 1) + ".1"; }
  std::vector<std::string> in_coordinator(std::vector<std::string> argv) const { return in(coordinator_, std::move(argv)); }
  std::vector<std::string> in_worker(int i, std::vector<std::string> argv) const { return in(workers_[i], std::move(argv)); }
  void cut_worker_link(int i) { run({"-n", workers_[i], "link", "set", "w" + std::to_string(i), "down"}); }

 private:
  void run(std::vector<std::string> args) {
    const auto r = ip(args);
    if (r.exit_code != 0 && why_not_.empty()) why_not_ = "ip " + args[0] + " ... failed: " + r.err;
  }
  static std::vector<std::string> in(const std::string& ns, std::vector<std::string> argv) {
    argv.insert(argv.begin(), {kIp, "netns", "exec", ns});
    return argv;
  }

  std::string coordinator_;
  std::vector<std::string> workers_;
  std::vector<std::string> made_;
  std::string why_not_;
};

// Starts worker `name` (a or b) in namespace i, talking CURVE to the coordinator on port 5555.
std::unique_ptr<BackgroundProcess> start_worker(const ThreeHosts& hosts, const ScratchDir& dir, int i) {
  const std::string name = i == 0 ? "a" : "b";
  return std::make_unique<BackgroundProcess>(
      hosts.in_worker(i, {lorafarm_binary().string(), "worker", "--connect", "tcp://" + hosts.coordinator_address(i) + ":5555", "--id", name,
                          "--workdir", (dir / ("work-" + name)).string(), "--heartbeat-ms", "100", "--curve-key",
                          (dir / "workers" / (name + ".key")).string(), "--server-key", (dir / "coordinator.pub").string()}),
      dir / ("worker-" + name + ".log"));
}

std::string keygen(const std::filesystem::path& stem) {
  const auto r = run_lorafarm({"keygen", stem.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return stem.string();
}

TEST(MultiHost, CurveSweepAcrossNamespacesSurvivesACutLink) {
  ThreeHosts hosts;
  if (!hosts.why_not().empty()) GTEST_SKIP() << "multi-host test skipped: " << hosts.why_not();
  ScratchDir dir;
  keygen(dir / "coordinator");
  keygen(dir / "workers" / "a");
  keygen(dir / "workers" / "b");
  const int trials = 8;
  // Each trial runs long enough for the link to be cut while it runs.
  write_file(dir / "spec.json", json{{"name", "hosts"},
                                     {"seed", 9},
                                     {"budget", {{"trials", trials}, {"max_attempts", 3}}},
                                     {"search_space", {{"x", {{"type", "float"}, {"low", 0}, {"high", 1}}}}},
                                     {"trial",
                                      {{"kind", "command"},
                                       {"command", "sleep 0.4; echo '{\"step\": 1, \"val_loss\": 2}'; sleep 0.4; "
                                                   "echo '{\"final\": true, \"val_loss\": '{x}'}'"},
                                       {"timeout_seconds", 30}}}}
                                    .dump());
  const auto db = dir / "hosts.db";
  const auto coordinator_log = dir / "coordinator.log";
  BackgroundProcess coordinator(
      hosts.in_coordinator({lorafarm_binary().string(), "sweep", (dir / "spec.json").string(), "--db", db.string(), "--bind",
                            "tcp://0.0.0.0:5555", "--curve-key", (dir / "coordinator.key").string(), "--allow",
                            (dir / "workers").string(), "--heartbeat-ms", "100", "--liveness", "3"}),
      coordinator_log);
  std::vector<std::unique_ptr<BackgroundProcess>> workers;
  for (int i = 0; i < 2; ++i) workers.push_back(start_worker(hosts, dir, i));

  // Wait until worker a runs its second trial (its first has completed, so
  // this one started at most one poll ago and has ~0.8 s to go), then cut its link.
  auto a_is_running = [&] {
    try {
      auto store = schema::Store::open_reader(db);
      const auto e = store.find_experiment("hosts");
      if (!e) return false;
      bool completed_one = false, running = false;
      for (const auto& at : store.attempts(e->id)) {
        if (at.worker != "a") continue;
        completed_one |= at.status == schema::TrialStatus::Completed;
        running |= at.status == schema::TrialStatus::Running;
      }
      return completed_one && running;
    } catch (const std::exception&) {
    }
    return false;
  };
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!a_is_running() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(a_is_running()) << read_file(coordinator_log);
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  hosts.cut_worker_link(0);

  const auto code = coordinator.wait(120);
  ASSERT_TRUE(code) << read_file(coordinator_log);
  EXPECT_EQ(*code, 0) << read_file(coordinator_log);

  auto store = schema::Store::open_reader(db);
  const auto e = store.find_experiment("hosts");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->status, "FINISHED");
  const auto all = store.trials(e->id);
  ASSERT_EQ(all.size(), static_cast<std::size_t>(trials));
  for (const auto& t : all) EXPECT_EQ(t.status, schema::TrialStatus::Completed) << "trial " << t.number << ": " << t.error;
  EXPECT_EQ(store.count_results(e->id), trials);
  int lost_on_a = 0;
  std::set<std::string> workers_seen;
  for (const auto& at : store.attempts(e->id)) {
    lost_on_a += at.worker == "a" && at.status == schema::TrialStatus::Lost;
    workers_seen.insert(at.worker);
  }
  EXPECT_GE(lost_on_a, 1) << "the cut worker's trial was not re-queued\n" << read_file(coordinator_log);
  EXPECT_EQ(workers_seen, (std::set<std::string>{"a", "b"}));
  EXPECT_TRUE(store.integrity_ok());
  EXPECT_TRUE(workers[1]->wait(10)) << "worker b did not exit after SHUTDOWN";
}

// The validation loss `lorafarm eval` gives the bundled model with an adapter folder.
double eval_loss(const std::filesystem::path& adapter) {
  const auto r = run_lorafarm({"eval", "--model", bundled_model().string(), "--data", bundled_data("fortunes").string(), "--split", "valid",
                               "--max-seq-length", "96", "--batch-size", "4", "--add-eos", "--json", "--adapter", adapter.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.exit_code == 0 ? json::parse(r.out)["loss"].get<double>() : -1;
}

TEST(MultiHost, AdaptersTrainedOnOtherHostsComeHomeAndOutliveTheirWorkersFolders) {
  ThreeHosts hosts;
  if (!hosts.why_not().empty()) GTEST_SKIP() << "multi-host test skipped: " << hosts.why_not();
  namespace fs = std::filesystem;
  ScratchDir dir;
  keygen(dir / "coordinator");
  keygen(dir / "workers" / "a");
  keygen(dir / "workers" / "b");
  write_file(dir / "spec.json",
             json{{"name", "far-adapters"},
                  {"seed", 3},
                  {"model", bundled_model().string()},
                  {"data", bundled_data("fortunes").string()},
                  {"objective", {{"metric", "val_loss"}, {"direction", "minimize"}}},
                  {"budget", {{"trials", 4}}},
                  {"search", {{"algorithm", "grid"}, {"shuffle", false}}},
                  {"search_space", {{"learning_rate", {{"type", "categorical"}, {"values", {0.001, 0.003, 0.006, 0.01}}}}}},
                  {"fixed",
                   {{"method", "lora"}, {"rank", 4}, {"iters", 8}, {"batch_size", 4}, {"max_seq_length", 96}, {"steps_per_eval", 100},
                    {"test", false}, {"threads", 1}}},
                  {"trial", {{"kind", "engine"}, {"timeout_seconds", 300}}}}
                 .dump());
  const auto db = dir / "far.db";
  const auto coordinator_log = dir / "coordinator.log";
  BackgroundProcess coordinator(
      hosts.in_coordinator({lorafarm_binary().string(), "sweep", (dir / "spec.json").string(), "--db", db.string(), "--bind", "tcp://0.0.0.0:5555",
                            "--curve-key", (dir / "coordinator.key").string(), "--allow", (dir / "workers").string(), "--heartbeat-ms", "100",
                            "--liveness", "5", "--log-level", "info"}),
      coordinator_log);
  std::vector<std::unique_ptr<BackgroundProcess>> workers;
  for (int i = 0; i < 2; ++i) workers.push_back(start_worker(hosts, dir, i));
  const auto code = coordinator.wait(300);
  ASSERT_TRUE(code) << read_file(coordinator_log);
  ASSERT_EQ(*code, 0) << read_file(coordinator_log);
  for (auto& w : workers) EXPECT_TRUE(w->wait(10)) << "a worker did not exit after SHUTDOWN";

  // The workers' machines lose everything; the store beside the database keeps it.
  fs::remove_all(dir / "work-a");
  fs::remove_all(dir / "work-b");
  auto store = schema::Store::open_reader(db);
  const auto e = store.find_experiment("far-adapters");
  ASSERT_TRUE(e);
  std::set<std::string> trained_on;
  for (const auto& t : store.trials(e->id)) trained_on.insert(t.worker);
  EXPECT_EQ(trained_on, (std::set<std::string>{"a", "b"}));
  for (const auto& ev : store.events(e->id)) EXPECT_NE(ev.kind, "ARTIFACT_UNAVAILABLE") << ev.detail.dump();

  const auto out = dir / "best-adapter";
  const auto r = run_lorafarm({"export", "far-adapters", "--best", "--to", out.string(), "--db", db.string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err << read_file(coordinator_log);
  const json exported = json::parse(r.out);
  const fs::path home = exported["adapter"].get<std::string>();
  const std::string attempt_folder = "trial-" + std::to_string(exported["trial"].get<int>()) + "-a1";
  EXPECT_EQ(home.parent_path(), dir / "far-artifacts" / "trials" / "far-adapters" / attempt_folder);
  const auto best = store.trials(e->id).at(exported["trial"].get<std::size_t>());
  int checked = 0;
  for (const auto& a : store.artifacts(best.id)) {
    EXPECT_FALSE(fs::exists(a.path)) << "still on the worker: " << a.path;
    const auto sum = run_process({"/usr/bin/sha256sum", (out / fs::path(a.path).filename()).string()});
    EXPECT_EQ(sum.out.substr(0, 64), a.sha256) << a.path;
    ++checked;
  }
  EXPECT_GE(checked, 2);  // adapter_config.json and the weights
  const double recorded = store.result(best.id)->metrics.at("val_loss").get<double>();
  EXPECT_NEAR(eval_loss(home), recorded, 1e-5 * recorded);
  EXPECT_EQ(report::summarize(store, *e).best_adapter, home.string());  // the report's best adapter
}

}  // namespace
}  // namespace lorafarm::testing
