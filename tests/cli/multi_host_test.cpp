// A sweep across "hosts": the coordinator and two workers each in a network
// namespace of their own, joined by veth links, talking tcp with CURVE on
// (issue 7, must-show 5). One worker's link is cut mid-trial; its trial is
// re-queued to the other and the sweep completes. Needs root (CAP_NET_ADMIN)
// and iproute2; skipped with the reason otherwise.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <set>

#include "cli/background_process.h"
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
  for (int i = 0; i < 2; ++i) {
    const std::string name = i == 0 ? "a" : "b";
    workers.push_back(std::make_unique<BackgroundProcess>(
        hosts.in_worker(i, {lorafarm_binary().string(), "worker", "--connect", "tcp://" + hosts.coordinator_address(i) + ":5555", "--id",
                            name, "--workdir", (dir / ("work-" + name)).string(), "--heartbeat-ms", "100", "--curve-key",
                            (dir / "workers" / (name + ".key")).string(), "--server-key", (dir / "coordinator.pub").string()}),
        dir / ("worker-" + name + ".log")));
  }

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

}  // namespace
}  // namespace lorafarm::testing
