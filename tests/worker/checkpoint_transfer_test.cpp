// The worker's halves of checkpoint resume: freezing a checkpoint folder
// (names, hashes, what is left out, and that the frozen copy outlives the
// trial's next write) and restoring one from DOWNLOAD_CHUNKs (offsets,
// duplicates, one transfer per content, a corrupt file named).
// Oracles: the published SHA-256 of "abc" and of the empty string (FIPS 180-2).
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "schema/base64.h"
#include "test_support.h"
#include "worker/checkpoint_download.h"
#include "worker/checkpoint_snapshot.h"

namespace lorafarm::worker {
namespace {

using lorafarm::testing::ScratchDir;
using lorafarm::testing::read_file;
using lorafarm::testing::write_file;
using nlohmann::json;
namespace fs = std::filesystem;

const std::string kAbc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
const std::string kEmpty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

json chunk(const std::string& sha, std::int64_t offset, const std::string& data, std::int64_t bytes) {
  return {{"sha256", sha}, {"offset", offset}, {"data", schema::base64_encode(data)}, {"bytes", bytes}};
}

TEST(CheckpointSnapshot, FreezesTheFolderWithRelativeNamesAndLeavesTemporaryFilesOut) {
  ScratchDir dir;
  fs::create_directories(dir / "ck" / "sub");
  write_file(dir / "ck" / "state.bin", "abc");
  write_file(dir / "ck" / "sub" / "empty", "");
  write_file(dir / "ck" / "next.tmp", "half written");
  const auto files = snapshot_checkpoint(dir / "ck", dir / "frozen");
  ASSERT_TRUE(files);
  ASSERT_EQ(files->size(), 2u);
  EXPECT_EQ((*files)[0]["name"], "state.bin");
  EXPECT_EQ((*files)[0]["sha256"], kAbc);
  EXPECT_EQ((*files)[0]["bytes"], 3);
  EXPECT_EQ((*files)[0]["path"], (dir / "frozen" / "state.bin").string());
  EXPECT_EQ((*files)[1]["name"], "sub/empty");
  EXPECT_EQ((*files)[1]["sha256"], kEmpty);
  // The trial's next checkpoint replaces the file (write, rename): the frozen copy keeps the announced bytes.
  write_file(dir / "ck" / "state.bin.new", "xyz!");
  fs::rename(dir / "ck" / "state.bin.new", dir / "ck" / "state.bin");
  EXPECT_EQ(read_file(dir / "frozen" / "state.bin"), "abc");
  EXPECT_FALSE(snapshot_checkpoint(dir / "nothing-here", dir / "frozen2"));
}

TEST(CheckpointSnapshot, ReleasingDeletesTheFrozenStepsBelowTheOneHomeExceptThoseStillBusy) {
  ScratchDir dir;
  for (const std::string step : {"step-5", "step-10", "step-15", "step-20", "step-x", "notes"}) {
    fs::create_directories(dir / step / "sub");
    write_file(dir / step / "sub" / "f", step);
  }
  const auto removed = remove_frozen_below(dir.path(), 20, {10});
  EXPECT_EQ(std::set<std::int64_t>(removed.begin(), removed.end()), (std::set<std::int64_t>{5, 15}));
  EXPECT_FALSE(fs::exists(dir / "step-5"));
  EXPECT_FALSE(fs::exists(dir / "step-15"));
  EXPECT_EQ(read_file(dir / "step-10" / "sub" / "f"), "step-10");  // still being hashed
  EXPECT_EQ(read_file(dir / "step-20" / "sub" / "f"), "step-20");  // the one home
  EXPECT_TRUE(fs::exists(dir / "step-x"));                         // not a step folder
  EXPECT_TRUE(fs::exists(dir / "notes"));
  EXPECT_TRUE(remove_frozen_below(dir / "missing", 100, {}).empty());
  // Which frozen step a file being uploaded belongs to (that step is kept too).
  EXPECT_EQ(frozen_step_of(dir.path(), dir / "step-10" / "sub" / "f"), 10);
  EXPECT_EQ(frozen_step_of(dir.path(), dir / "step-x" / "f"), std::nullopt);
  EXPECT_EQ(frozen_step_of(dir / "step-10", dir / "step-20" / "f"), std::nullopt);
  EXPECT_EQ(frozen_step_of(dir.path(), dir.path()), std::nullopt);
}

TEST(CheckpointSnapshot, OnlyACheckpointStepLineAnnouncesACheckpoint) {
  EXPECT_EQ(checkpoint_step_of(R"({"checkpoint_step": 40})"), 40);
  EXPECT_FALSE(checkpoint_step_of(R"({"step": 40, "val_loss": 1.5})"));
  EXPECT_FALSE(checkpoint_step_of(R"({"checkpoint_step": -1})"));
  EXPECT_FALSE(checkpoint_step_of(R"({"checkpoint_step": "40"})"));
  EXPECT_FALSE(checkpoint_step_of(R"(saved "checkpoint_step" 40)"));
}

TEST(CheckpointDownloads, RestoresEveryFileAtItsNameAndFetchesEachContentOnce) {
  ScratchDir dir;
  CheckpointDownloads downloads;
  const json files = json::array({{{"name", "a/state.bin"}, {"sha256", kAbc}, {"bytes", 3}},
                                  {{"name", "copy.bin"}, {"sha256", kAbc}, {"bytes", 3}},
                                  {{"name", "empty"}, {"sha256", kEmpty}, {"bytes", 0}}});
  const auto requests = downloads.start({5, 2}, files, dir / "ck");
  ASSERT_EQ(requests.size(), 1u);  // "abc" once; the empty file needs no transfer
  EXPECT_EQ(requests[0], (json{{"sha256", kAbc}, {"offset", 0}}));
  EXPECT_TRUE(downloads.take_finished().empty());
  const auto next = downloads.on_chunk(chunk(kAbc, 0, "ab", 3));
  ASSERT_TRUE(next);
  EXPECT_EQ((*next)["offset"], 2);
  EXPECT_FALSE(downloads.on_chunk(chunk(kAbc, 0, "ab", 3)));  // a duplicate answer changes nothing
  EXPECT_EQ(downloads.resend(), std::vector<json>{(json{{"sha256", kAbc}, {"offset", 2}})});
  EXPECT_FALSE(downloads.on_chunk(chunk(kAbc, 2, "c", 3)));
  const auto done = downloads.take_finished();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].first, (CheckpointDownloads::Key{5, 2}));
  EXPECT_EQ(done[0].second, "");
  EXPECT_EQ(read_file(dir / "ck" / "a" / "state.bin"), "abc");
  EXPECT_EQ(read_file(dir / "ck" / "copy.bin"), "abc");
  EXPECT_TRUE(fs::is_regular_file(dir / "ck" / "empty"));
  EXPECT_FALSE(fs::exists(dir / "ck" / "a" / "state.bin.part"));
}

TEST(CheckpointDownloads, ACorruptOrRefusedFileFailsTheRestoreNamingIt) {
  ScratchDir dir;
  CheckpointDownloads downloads;
  downloads.start({1, 2}, json::array({{{"name", "state.bin"}, {"sha256", kAbc}, {"bytes", 3}}}), dir / "ck");
  EXPECT_FALSE(downloads.on_chunk(chunk(kAbc, 0, "abd", 3)));
  auto done = downloads.take_finished();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_NE(done[0].second.find((dir / "ck" / "state.bin").string() + ": corrupt checkpoint file"), std::string::npos) << done[0].second;
  EXPECT_FALSE(fs::exists(dir / "ck" / "state.bin"));

  downloads.start({1, 3}, json::array({{{"name", "state.bin"}, {"sha256", kAbc}, {"bytes", 3}}}), dir / "ck3");
  downloads.on_chunk({{"sha256", kAbc}, {"offset", 0}, {"data", ""}, {"error", "no checkpoint file with this sha256"}});
  done = downloads.take_finished();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_NE(done[0].second.find((dir / "ck3" / "state.bin").string()), std::string::npos) << done[0].second;
  EXPECT_NE(done[0].second.find("no checkpoint file with this sha256"), std::string::npos);
}

}  // namespace
}  // namespace lorafarm::worker
