// Artifacts come home over the coordinator's socket (issue 19, item 1): a
// remote worker's file reaches the store beside the database, and a transfer
// cut by killing its worker, or its coordinator, mid-upload resumes from the
// offset the store had.
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

constexpr int kBytes = 6'000'000;

// One command trial that leaves a 6 MB file of random bytes.
void write_spec(const ScratchDir& dir) {
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
}

std::vector<std::string> sweep_argv(const ScratchDir& dir, const std::string& endpoint, const std::string& max_mb = "2048") {
  return {lorafarm_binary().string(), "sweep", (dir / "spec.json").string(), "--db", (dir / "far.db").string(), "--bind", endpoint,
          "--heartbeat-ms", "200", "--liveness", "10", "--log-level", "info", "--max-artifact-mb", max_mb};
}

// Waits until the store has at least `bytes` of an upload in progress; returns what it has.
std::uintmax_t wait_for_partial_upload(const fs::path& store_dir, std::uintmax_t bytes) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::uintmax_t have = 0;
  while (std::chrono::steady_clock::now() < until && (have = partial_upload_bytes(store_dir)) < bytes)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  return have;
}

// The checks both tests end with: the transfer resumed at or after `at_cut`
// and the stored file has the worker's sha256 (coreutils' sha256sum).
void expect_resumed_and_stored(const ScratchDir& dir, std::uintmax_t at_cut, const fs::path& log) {
  const auto store_dir = dir / "far-artifacts";
  auto store = schema::Store::open_reader(dir / "far.db");
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
  ASSERT_TRUE(resumed_at) << read_file(log);
  EXPECT_GT(*resumed_at, 0);
  EXPECT_LT(*resumed_at, kBytes);
  EXPECT_GE(*resumed_at, static_cast<std::int64_t>(at_cut) - 1024) << "resumed behind what the store had at the cut";
  EXPECT_EQ(stored, 1);
  const auto home = store_dir / "trials" / "far" / "trial-0-a1" / "artifacts" / "blob.bin";
  ASSERT_TRUE(fs::is_regular_file(home)) << read_file(log);
  EXPECT_EQ(sha256sum(home), artifacts[0].sha256);
  EXPECT_EQ(sha256sum(store_dir / "objects" / artifacts[0].sha256.substr(0, 2) / artifacts[0].sha256), artifacts[0].sha256);
  EXPECT_FALSE(fs::exists(store_dir / "objects" / "tmp" / (artifacts[0].sha256 + ".part")));
}

TEST(ArtifactTransfer, ResumesFromTheStoredOffsetAfterItsWorkerIsKilledMidUpload) {
  ScratchDir dir;
  write_spec(dir);
  const auto store_dir = dir / "far-artifacts";
  const std::string endpoint = "tcp://127.0.0.1:" + std::to_string(20000 + ::getpid() % 20000);
  const auto coordinator_log = dir / "coordinator.log";
  BackgroundProcess coordinator(sweep_argv(dir, endpoint), coordinator_log);
  // 1 KiB chunks: thousands of round trips, so the upload is caught half way.
  auto first = std::make_unique<BackgroundProcess>(worker_argv(endpoint, dir / "work", "1"), dir / "worker-1.log");
  const auto at_kill = wait_for_partial_upload(store_dir, 64 * 1024);
  first->signal(SIGKILL);
  ASSERT_TRUE(first->wait(10));
  ASSERT_GT(at_kill, 0u) << "the upload never started\n" << read_file(coordinator_log) << read_file(dir / "worker-1.log");
  ASSERT_LT(partial_upload_bytes(store_dir), static_cast<std::uintmax_t>(kBytes)) << "the upload finished before the kill";

  // The same worker (same --id and --workdir) comes back and finishes the job.
  BackgroundProcess second(worker_argv(endpoint, dir / "work", "256"), dir / "worker-2.log");
  const auto code = coordinator.wait(60);
  ASSERT_TRUE(code) << read_file(coordinator_log);
  EXPECT_EQ(*code, 0) << read_file(coordinator_log);
  expect_resumed_and_stored(dir, at_kill, coordinator_log);
}

TEST(ArtifactTransfer, ResumesFromTheStoredOffsetAfterTheCoordinatorIsKilledMidUpload) {
  ScratchDir dir;
  write_spec(dir);
  const auto store_dir = dir / "far-artifacts";
  const std::string endpoint = "tcp://127.0.0.1:" + std::to_string(20000 + (::getpid() + 7) % 20000);
  auto first = std::make_unique<BackgroundProcess>(sweep_argv(dir, endpoint), dir / "coordinator-1.log");
  BackgroundProcess worker(worker_argv(endpoint, dir / "work", "1"), dir / "worker.log");
  const auto at_kill = wait_for_partial_upload(store_dir, 64 * 1024);
  first->signal(SIGKILL);
  ASSERT_TRUE(first->wait(10));
  ASSERT_GT(at_kill, 0u) << "the upload never started\n" << read_file(dir / "coordinator-1.log") << read_file(dir / "worker.log");
  ASSERT_LT(partial_upload_bytes(store_dir), static_cast<std::uintmax_t>(kBytes)) << "the upload finished before the kill";

  // The same sweep command again: its trial is complete, its file is not home yet.
  const auto log = dir / "coordinator-2.log";
  BackgroundProcess second(sweep_argv(dir, endpoint), log);
  const auto code = second.wait(60);
  ASSERT_TRUE(code) << read_file(log);
  EXPECT_EQ(*code, 0) << read_file(log);
  expect_resumed_and_stored(dir, at_kill, log);
  EXPECT_TRUE(worker.wait(10)) << "the worker did not exit after SHUTDOWN";
}

TEST(ArtifactTransfer, AFileAboveTheSizeLimitStaysOnItsWorkerAndAnEventSaysSo) {
  ScratchDir dir;
  write_spec(dir);
  const std::string endpoint = "tcp://127.0.0.1:" + std::to_string(20000 + (::getpid() + 13) % 20000);
  const auto log = dir / "coordinator.log";
  BackgroundProcess coordinator(sweep_argv(dir, endpoint, "1"), log);  // 1 MiB < 6 MB
  BackgroundProcess worker(worker_argv(endpoint, dir / "work", "256"), dir / "worker.log");
  const auto code = coordinator.wait(60);
  ASSERT_TRUE(code) << read_file(log);
  EXPECT_EQ(*code, 0) << read_file(log);
  auto store = schema::Store::open_reader(dir / "far.db");
  const auto e = store.find_experiment("far");
  ASSERT_TRUE(e);
  std::optional<json> too_large;
  for (const auto& ev : store.events(e->id)) {
    if (ev.kind == "ARTIFACT_TOO_LARGE") too_large = ev.detail;
    EXPECT_NE(ev.kind, "ARTIFACT_STORED");
  }
  ASSERT_TRUE(too_large) << read_file(log);
  EXPECT_EQ((*too_large)["bytes"], kBytes);
  EXPECT_EQ((*too_large)["max_bytes"], 1 << 20);
  EXPECT_FALSE(fs::exists(dir / "far-artifacts" / "objects"));
  EXPECT_FALSE(fs::exists(dir / "far-artifacts" / "trials" / "far" / "trial-0-a1" / "artifacts" / "blob.bin"));
}

}  // namespace
}  // namespace lorafarm::testing
