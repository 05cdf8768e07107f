// Acceptance: a sweep survives SIGKILLs of its workers and of its coordinator
// (restarted with the same `lorafarm sweep` command, which resumes): every
// trial completes exactly once and the SQLite file is intact. The database is
// read with the SQLite C API, not through lorafarm's own store.
// (Full size by hand: scripts/chaos-kill-workers.sh, 300 trials.)
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>
#include <thread>

#include "acceptance/sqlite_reader.h"
#include "cli/background_process.h"
#include "test_support.h"

namespace lorafarm::testing {
namespace {

using nlohmann::json;

constexpr int kTrials = 80;
constexpr int kWorkers = 4;

// Short shell trials whose result is their own parameter x. Trials from
// `gated_from` on wait for the gate file, so the sweep cannot end before the
// test has done all its killing (a worker that joins after the end would wait
// for a coordinator forever, as a farm worker should).
std::string gated_trial_command(int gated_from, const std::string& gate) {
  return "[ $LORAFARM_TRIAL -lt " + std::to_string(gated_from) + " ] || while [ ! -e " + gate +
         " ]; do sleep 0.02; done; sleep 0.0$(( $LORAFARM_TRIAL % 7 + 2 )); "
         "echo '{\"step\": 1, \"val_loss\": 2}'; echo '{\"final\": true, \"val_loss\": '{x}'}'";
}

class ChaosFarm {
 public:
  ChaosFarm() {
    const json spec{{"name", "chaos"},
                    {"seed", 7},
                    {"budget", {{"trials", kTrials}, {"max_attempts", 10}}},
                    {"search_space", {{"x", {{"type", "float"}, {"low", 0}, {"high", 1}}}}},
                    {"trial",
                     {{"kind", "command"},
                      {"command", gated_trial_command(kTrials - kTrials / 8, gate_.string())},
                      {"timeout_seconds", 30}}}};
    write_file(spec_, spec.dump());
  }

  const std::filesystem::path& db() const { return db_; }
  std::filesystem::path log(const std::string& name) const { return dir_ / (name + ".log"); }
  void open_gate() const { write_file(gate_, ""); }

  std::unique_ptr<BackgroundProcess> coordinator(int incarnation) const {
    return std::make_unique<BackgroundProcess>(
        std::vector<std::string>{lorafarm_binary().string(), "sweep", spec_.string(), "--db", db_.string(), "--bind", endpoint_,
                                 "--heartbeat-ms", "100", "--liveness", "3", "--log-level", "info"},
        log("coordinator" + std::to_string(incarnation)));
  }
  std::unique_ptr<BackgroundProcess> worker(int i, int incarnation) const {
    return std::make_unique<BackgroundProcess>(
        std::vector<std::string>{lorafarm_binary().string(), "worker", "--connect", endpoint_, "--id", "w" + std::to_string(i),
                                 "--workdir", (dir_ / ("work" + std::to_string(i))).string(), "--heartbeat-ms", "100"},
        log(worker_log_name(i, incarnation)));
  }
  static std::string worker_log_name(int i, int incarnation) { return "w" + std::to_string(i) + "." + std::to_string(incarnation); }

  // Counted results so far (0 while the file or its tables do not exist yet).
  std::int64_t results() const {
    try {
      return SqliteReader(db_).integer("SELECT COUNT(*) FROM results");
    } catch (const std::exception&) {
      return 0;
    }
  }
  bool wait_for_results(std::int64_t n, double seconds) const {
    return poll_until(seconds, [&] { return results() >= n; });
  }
  // True once the log says the worker was welcomed `times` times.
  bool wait_for_welcome(const std::string& log_name, int times, double seconds) const {
    return poll_until(seconds, [&] {
      const std::string text = std::filesystem::exists(log(log_name)) ? read_file(log(log_name)) : "";
      int seen = 0;
      for (auto at = text.find(": connected to "); at != std::string::npos; at = text.find(": connected to ", at + 1)) ++seen;
      return seen >= times;
    });
  }

 private:
  template <class Done>
  static bool poll_until(double seconds, Done done) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (!done()) {
      if (std::chrono::steady_clock::now() > until) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
  }

  ScratchDir dir_;
  std::filesystem::path spec_ = dir_ / "spec.json";
  std::filesystem::path db_ = dir_ / "chaos.db";
  std::filesystem::path gate_ = dir_ / "gate";
  std::string endpoint_ = "tcp://127.0.0.1:" + std::to_string(free_tcp_port());
};

// The claim, read straight from the tables: every trial COMPLETED, one
// counted result each from the attempt that completed it, exactly one
// COMPLETED attempt per trial, the result is the trial's own output, and
// SQLite finds the file intact.
void expect_every_trial_completed_exactly_once(const SqliteReader& db) {
  EXPECT_EQ(db.scalar("SELECT status FROM experiments WHERE name = 'chaos'"), "FINISHED");
  EXPECT_EQ(db.integer("SELECT COUNT(*) FROM trials"), kTrials);
  EXPECT_EQ(db.integer("SELECT COUNT(DISTINCT number) FROM trials"), kTrials);
  EXPECT_EQ(db.integer("SELECT COUNT(*) FROM trials WHERE status = 'COMPLETED'"), kTrials);
  EXPECT_EQ(db.integer("SELECT COUNT(*) FROM results"), kTrials);
  EXPECT_EQ(db.integer("SELECT COUNT(DISTINCT r.trial_id) FROM results r JOIN trials t ON t.id = r.trial_id"), kTrials);
  EXPECT_EQ(db.integer("SELECT COUNT(*) FROM results r JOIN trials t ON t.id = r.trial_id WHERE r.attempt != t.attempt"), 0);
  const auto not_once = db.rows(
      "SELECT t.number, (SELECT COUNT(*) FROM attempts a WHERE a.trial_id = t.id AND a.status = 'COMPLETED') AS n "
      "FROM trials t WHERE n != 1");
  EXPECT_TRUE(not_once.empty()) << "trial " << not_once.front()[0] << " has " << not_once.front()[1] << " COMPLETED attempts";
  EXPECT_EQ(db.integer("SELECT COUNT(*) FROM results r JOIN trials t ON t.id = r.trial_id "
                       "WHERE r.val_loss IS NULL OR ABS(r.val_loss - json_extract(t.params_json, '$.x')) > 1e-9"),
            0);
  EXPECT_EQ(db.scalar("PRAGMA integrity_check"), "ok");
  EXPECT_TRUE(db.rows("PRAGMA foreign_key_check").empty());
}

TEST(AcceptanceChaos, WorkersAndCoordinatorKilledMidSweepEveryTrialCompletesOnce) {
  ChaosFarm farm;
  auto coordinator = farm.coordinator(1);
  std::vector<std::unique_ptr<BackgroundProcess>> workers;
  for (int i = 0; i < kWorkers; ++i) workers.push_back(farm.worker(i, 1));

  // A worker killed mid-trial and replaced.
  ASSERT_TRUE(farm.wait_for_results(kTrials / 6, 60)) << read_file(farm.log("coordinator1"));
  workers[0]->signal(SIGKILL);
  workers[0]->wait(5);
  workers[0] = farm.worker(0, 2);
  ASSERT_TRUE(farm.wait_for_welcome(ChaosFarm::worker_log_name(0, 2), 1, 60));

  // The coordinator killed, and a worker with it while nobody watches; the
  // same sweep command resumes on the same --db.
  ASSERT_TRUE(farm.wait_for_results(kTrials * 2 / 5, 60));
  coordinator->signal(SIGKILL);
  EXPECT_EQ(coordinator->wait(5), -SIGKILL);
  const auto before_restart = farm.results();
  EXPECT_LT(before_restart, kTrials);
  workers[1]->signal(SIGKILL);
  workers[1]->wait(5);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  coordinator = farm.coordinator(2);
  workers[1] = farm.worker(1, 2);
  ASSERT_TRUE(farm.wait_for_welcome(ChaosFarm::worker_log_name(1, 2), 1, 60)) << read_file(farm.log("coordinator2"));
  ASSERT_TRUE(farm.wait_for_welcome(ChaosFarm::worker_log_name(2, 1), 2, 60)) << "a surviving worker did not reconnect";

  // One more worker killed under the restarted coordinator.
  ASSERT_TRUE(farm.wait_for_results(std::max<std::int64_t>(before_restart + 5, kTrials * 3 / 5), 60));
  workers[2]->signal(SIGKILL);
  workers[2]->wait(5);
  workers[2] = farm.worker(2, 2);
  ASSERT_TRUE(farm.wait_for_welcome(ChaosFarm::worker_log_name(2, 2), 1, 60));

  farm.open_gate();
  const auto code = coordinator->wait(180);
  ASSERT_TRUE(code) << read_file(farm.log("coordinator2"));
  EXPECT_EQ(*code, 0) << read_file(farm.log("coordinator2"));
  for (auto& w : workers) EXPECT_TRUE(w->wait(10)) << "a worker did not exit after SHUTDOWN";

  const SqliteReader db(farm.db());
  expect_every_trial_completed_exactly_once(db);
  EXPECT_GE(db.integer("SELECT COUNT(*) FROM events WHERE kind = 'RESUMED'"), 1);
  EXPECT_GE(db.integer("SELECT COUNT(*) FROM attempts WHERE status = 'LOST'"), 1);  // killed workers held trials
}

}  // namespace
}  // namespace lorafarm::testing
