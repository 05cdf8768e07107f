// Artifacts come home over the coordinator's socket (issue 19, item 1): a
// remote worker's file reaches the store beside the database, and a transfer
// cut by killing its worker mid-upload resumes from the offset the store had.
// The oracle for the content is coreutils' sha256sum of the worker's file.
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "cli/background_process.h"
#include "schema/store.h"
#include "test_support.h"

namespace lorafarm::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::string sha256sum(const fs::path& file) {
  const auto r = run_process({"/usr/bin/sha256sum", file.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.out.substr(0, 64);
}

// Bytes of the upload in progress under the store's objects/tmp (0 when none).
std::uintmax_t partial_upload_bytes(const fs::path& artifact_dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(artifact_dir / "objects" / "tmp", ec)) {
    const auto size = fs::file_size(entry.path(), ec);
    if (!ec) return size;
  }
  return 0;
}

std::vector<std::string> worker_argv(const std::string& endpoint, const fs::path& workdir, const std::string& chunk_kb) {
  return {lorafarm_binary().string(), "worker", "--connect", endpoint, "--id", "far", "--workdir", workdir.string(), "--heartbeat-ms", "200",
          "--upload-chunk-kb", chunk_kb};
}

TEST(ArtifactTransfer, ResumesFromTheStoredOffsetAfterItsWorkerIsKilledMidUpload) {
  ScratchDir dir;
  constexpr int kBytes = 6'000'000;
  write_file(dir / "spec.json", json{{"name", "far"},
                                     {"seed", 1},
                                     {"budget", {{"trials", 1}}},
                                     {"search_space", {{"x", {{"type", "float"}, {"low", 0}, {"high", 1}}}}},
                                     {"trial",
                                      {{"kind", "command"},
                                       {"command", "head -c " + std::to_string(kBytes) + " /dev/urandom > $LORAFARM_ARTIFACT_DIR/blob.bin; "
                                                   "echo '{\"final\": true, \"val_loss\": '{x}'}'"},
                                       {"timeout_seconds", 30}}}}
                                    .dump());
  const auto db = dir / "far.db";
  const auto store_dir = dir / "far-artifacts";
  const std::string endpoint = "tcp://127.0.0.1:" + std::to_string(20000 + ::getpid() % 20000);
  const auto coordinator_log = dir / "coordinator.log";
  BackgroundProcess coordinator({lorafarm_binary().string(), "sweep", (dir / "spec.json").string(), "--db", db.string(), "--bind", endpoint,
                                 "--heartbeat-ms", "200", "--liveness", "10", "--log-level", "info"},
                                coordinator_log);
  // 1 KiB chunks: thousands of round trips, so the upload is caught half way.
  auto first = std::make_unique<BackgroundProcess>(worker_argv(endpoint, dir / "work", "1"), dir / "worker-1.log");
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::uintmax_t at_kill = 0;
  while (std::chrono::steady_clock::now() < until && (at_kill = partial_upload_bytes(store_dir)) < 64 * 1024)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  first->signal(SIGKILL);
  ASSERT_TRUE(first->wait(10));
  ASSERT_GT(at_kill, 0u) << "the upload never started\n" << read_file(coordinator_log) << read_file(dir / "worker-1.log");
  ASSERT_LT(partial_upload_bytes(store_dir), static_cast<std::uintmax_t>(kBytes)) << "the upload finished before the kill";

  // The same worker (same --id and --workdir) comes back and finishes the job.
  BackgroundProcess second(worker_argv(endpoint, dir / "work", "256"), dir / "worker-2.log");
  const auto code = coordinator.wait(60);
  ASSERT_TRUE(code) << read_file(coordinator_log);
  EXPECT_EQ(*code, 0) << read_file(coordinator_log);

  auto store = schema::Store::open_reader(db);
  const auto e = store.find_experiment("far");
  ASSERT_TRUE(e);
  const auto trial = store.trials(e->id).at(0);
  const auto artifacts = store.artifacts(trial.id);
  ASSERT_EQ(artifacts.size(), 1u);
  const fs::path on_worker = artifacts[0].path;
  ASSERT_TRUE(fs::is_regular_file(on_worker));
  EXPECT_EQ(sha256sum(on_worker), artifacts[0].sha256);
  std::optional<std::int64_t> resumed_at;
  int stored = 0;
  for (const auto& ev : store.events(e->id)) {
    if (ev.kind == "ARTIFACT_RESUMED") resumed_at = ev.detail["offset"].get<std::int64_t>();
    stored += ev.kind == "ARTIFACT_STORED";
  }
  ASSERT_TRUE(resumed_at) << read_file(coordinator_log);
  EXPECT_GT(*resumed_at, 0);
  EXPECT_LT(*resumed_at, kBytes);
  EXPECT_GE(*resumed_at, static_cast<std::int64_t>(at_kill) - 1024) << "resumed behind what the store had at the kill";
  EXPECT_EQ(stored, 1);

  const auto home = store_dir / "trials" / "far" / "trial-0-a1" / "artifacts" / "blob.bin";
  ASSERT_TRUE(fs::is_regular_file(home)) << read_file(coordinator_log);
  EXPECT_EQ(sha256sum(home), artifacts[0].sha256);
  EXPECT_EQ(sha256sum(store_dir / "objects" / artifacts[0].sha256.substr(0, 2) / artifacts[0].sha256), artifacts[0].sha256);
  EXPECT_FALSE(fs::exists(store_dir / "objects" / "tmp" / (artifacts[0].sha256 + ".part")));
}

}  // namespace
}  // namespace lorafarm::testing
