// CURVE authentication end to end (issue 7): `lorafarm keygen`, a coordinator
// on tcp with an allow-list, and workers with the right key, an unknown key,
// no key, and the wrong coordinator key — as real processes on loopback.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>
#include <set>

#include "cli/background_process.h"
#include "schema/curve_keys.h"
#include "schema/store.h"
#include "test_support.h"

namespace lorafarm::testing {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;

std::string keygen(const std::filesystem::path& stem) {
  const auto r = run_lorafarm({"keygen", stem.string(), "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return json::parse(r.out)["public_key"].get<std::string>();
}

bool log_contains(const std::filesystem::path& log, const std::string& text) {
  return std::filesystem::exists(log) && read_file(log).find(text) != std::string::npos;
}

bool wait_for_log(const std::filesystem::path& log, const std::string& text, double seconds) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (!log_contains(log, text)) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

TEST(CurveKeys, KeygenWritesAPrivateKeyPairAndItsPublicKey) {
  ScratchDir dir;
  const auto stem = dir / "keys" / "coordinator";
  const std::string public_key = keygen(stem);
  EXPECT_TRUE(schema::is_z85_key(public_key));
  struct stat info {};
  ASSERT_EQ(::stat((stem.string() + ".key").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  const auto pair = schema::load_curve_key_pair(stem.string() + ".key");
  EXPECT_EQ(pair.public_key, public_key);
  EXPECT_EQ(schema::load_curve_public_key(stem.string() + ".pub"), public_key);
  EXPECT_EQ(read_file(stem.string() + ".pub").find(pair.secret_key), std::string::npos);

  const auto again = run_lorafarm({"keygen", stem.string()});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_THAT(again.err, HasSubstr("--force"));
  EXPECT_EQ(schema::load_curve_key_pair(stem.string() + ".key").secret_key, pair.secret_key);  // not replaced
  EXPECT_EQ(run_lorafarm({"keygen", stem.string(), "--force"}).exit_code, 0);
  EXPECT_NE(schema::load_curve_key_pair(stem.string() + ".key").secret_key, pair.secret_key);
}

TEST(CurveKeys, ASecretKeyOthersCanReadIsRefused) {
  ScratchDir dir;
  keygen(dir / "w");
  ::chmod((dir / "w.key").c_str(), 0644);
  try {
    schema::load_curve_key_pair(dir / "w.key");
    FAIL() << "a world-readable secret key was accepted";
  } catch (const std::exception& e) {
    EXPECT_THAT(e.what(), HasSubstr("chmod 600"));
  }
}

TEST(CurveKeys, AllowListReadsAFolderOfPubFilesOrAFileOfBareKeys) {
  ScratchDir dir;
  std::set<std::string> expected;
  for (const char* name : {"a", "b"}) expected.insert(keygen(dir / "workers" / name));
  EXPECT_EQ(schema::load_curve_allow_list(dir / "workers"), expected);  // the .key files there are ignored

  // Z85 keys may hold '=' (even first): a bare key is still a key, not a `tag = key` line.
  std::string hash_key = "=" + std::string(39, '0');
  ASSERT_TRUE(schema::is_z85_key(hash_key));
  std::string text = "# allowed workers\n\n" + hash_key + "\n";
  for (const auto& k : expected) text += k + "\n";
  write_file(dir / "allow.txt", text);
  auto listed = schema::load_curve_allow_list(dir / "allow.txt");
  EXPECT_EQ(listed.size(), 3u);
  EXPECT_TRUE(listed.count(hash_key));

  write_file(dir / "bad.txt", "not-a-key\n");
  EXPECT_THROW(schema::load_curve_allow_list(dir / "bad.txt"), std::runtime_error);
  write_file(dir / "empty.txt", "# nobody\n");
  EXPECT_THROW(schema::load_curve_allow_list(dir / "empty.txt"), std::runtime_error);
  EXPECT_THROW(schema::load_curve_allow_list(dir / "absent"), std::runtime_error);
}

// Must-show 2.
TEST(CurveAuth, NonLoopbackBindWithoutKeysIsRefusedNamingKeygenAndInsecure) {
  ScratchDir dir;
  write_file(dir / "spec.json", json{{"name", "open"},
                                     {"budget", {{"trials", 1}}},
                                     {"search_space", {{"x", {{"type", "float"}, {"low", 0}, {"high", 1}}}}},
                                     {"trial", {{"kind", "command"}, {"command", "echo '{\"final\": true, \"val_loss\": 1}'"}}}}
                                    .dump());
  const auto r = run_lorafarm({"sweep", (dir / "spec.json").string(), "--db", (dir / "db.sqlite").string(), "--bind",
                               "tcp://0.0.0.0:" + std::to_string(free_tcp_port())});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("lorafarm keygen"));
  EXPECT_THAT(r.err, HasSubstr("--insecure"));

  // Half a CURVE setup is a one-line error too.
  keygen(dir / "coordinator");
  const auto half = run_lorafarm({"sweep", (dir / "spec.json").string(), "--db", (dir / "db.sqlite").string(), "--bind",
                                  "tcp://0.0.0.0:" + std::to_string(free_tcp_port()), "--curve-key", (dir / "coordinator.key").string()});
  EXPECT_EQ(half.exit_code, 1);
  EXPECT_THAT(half.err, HasSubstr("--allow"));
}

// Must-show 1: over tcp with CURVE on, workers with an unknown key, no key or
// the wrong coordinator key get no trial and the coordinator logs each
// refusal; the listed worker then runs the whole sweep.
TEST(CurveAuth, OnlyAListedWorkerWithTheCoordinatorsKeyGetsTrials) {
  ScratchDir dir;
  keygen(dir / "coordinator");
  keygen(dir / "allowed" / "good");
  keygen(dir / "stranger");  // not on the allow-list
  keygen(dir / "impostor");  // a coordinator key the workers should not trust
  const std::string endpoint = "tcp://127.0.0.1:" + std::to_string(free_tcp_port());
  const int trials = 6;
  write_file(dir / "spec.json", json{{"name", "curve"},
                                     {"seed", 5},
                                     {"budget", {{"trials", trials}}},
                                     {"search_space", {{"x", {{"type", "float"}, {"low", 0}, {"high", 1}}}}},
                                     {"trial", {{"kind", "command"}, {"command", "echo '{\"final\": true, \"val_loss\": '{x}'}'"}}}}
                                    .dump());
  const auto db = dir / "curve.db";
  const auto coordinator_log = dir / "coordinator.log";
  BackgroundProcess coordinator({lorafarm_binary().string(), "sweep", (dir / "spec.json").string(), "--db", db.string(), "--bind", endpoint,
                                 "--curve-key", (dir / "coordinator.key").string(), "--allow", (dir / "allowed").string(),
                                 "--heartbeat-ms", "100"},
                                coordinator_log);
  ASSERT_TRUE(wait_for_log(coordinator_log, "listening on", 30)) << read_file(coordinator_log);

  auto worker = [&](const std::string& id, std::vector<std::string> keys) {
    std::vector<std::string> argv{lorafarm_binary().string(), "worker", "--connect", endpoint, "--id", id,
                                  "--workdir", (dir / ("work-" + id)).string(), "--heartbeat-ms", "100"};
    argv.insert(argv.end(), keys.begin(), keys.end());
    return std::make_unique<BackgroundProcess>(argv, dir / (id + ".log"));
  };
  const std::string good_key = (dir / "allowed" / "good.key").string();
  auto stranger = worker("stranger", {"--curve-key", (dir / "stranger.key").string(), "--server-key", (dir / "coordinator.pub").string()});
  auto keyless = worker("keyless", {});
  auto misled = worker("misled", {"--curve-key", good_key, "--server-key", (dir / "impostor.pub").string()});

  EXPECT_TRUE(wait_for_log(coordinator_log, "is not on the allow-list", 20)) << read_file(coordinator_log);
  EXPECT_TRUE(wait_for_log(coordinator_log, "does not use CURVE", 20)) << read_file(coordinator_log);
  EXPECT_TRUE(wait_for_log(coordinator_log, "different coordinator public key", 20)) << read_file(coordinator_log);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // time to have taken a trial, had any got through
  {
    auto store = schema::Store::open_reader(db);
    const auto e = store.find_experiment("curve");
    ASSERT_TRUE(e);
    EXPECT_TRUE(store.attempts(e->id).empty()) << "a refused worker was given a trial";
  }
  EXPECT_FALSE(log_contains(coordinator_log, " joined ("));

  auto good = worker("good", {"--curve-key", good_key, "--server-key", (dir / "coordinator.pub").string()});
  const auto code = coordinator.wait(60);
  ASSERT_TRUE(code) << read_file(coordinator_log);
  EXPECT_EQ(*code, 0) << read_file(coordinator_log);
  EXPECT_TRUE(good->wait(10)) << "the listed worker did not exit after SHUTDOWN";

  auto store = schema::Store::open_reader(db);
  const auto e = store.find_experiment("curve");
  ASSERT_TRUE(e);
  EXPECT_EQ(store.count_results(e->id), trials);
  std::set<std::string> workers_seen;
  for (const auto& a : store.attempts(e->id)) workers_seen.insert(a.worker);
  EXPECT_EQ(workers_seen, std::set<std::string>{"good"});
  // The refused workers are still knocking: nothing told them anything.
  EXPECT_TRUE(stranger->running());
  EXPECT_TRUE(keyless->running());
  EXPECT_TRUE(misled->running());
}

}  // namespace
}  // namespace lorafarm::testing
