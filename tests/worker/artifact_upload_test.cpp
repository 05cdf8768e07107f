// The worker's side of a transfer: it sends only files inside its --workdir
// with their recorded size, each chunk at the offset the coordinator names,
// and never two chunks of a file at once.
#include "worker/artifact_upload.h"

#include <gtest/gtest.h>

#include "schema/base64.h"
#include "test_support.h"

namespace lorafarm::worker {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const std::string kSha(64, 'a');  // the worker does not hash: the coordinator checks the content

json fetch(const fs::path& path, std::int64_t bytes, const std::string& sha = kSha) {
  return {{"trial", 0}, {"attempt", 1}, {"files", {{{"sha256", sha}, {"bytes", bytes}, {"path", path.string()}}}}};
}

TEST(ArtifactUploads, SendsChunksAtTheOffsetsTheCoordinatorNames) {
  testing::ScratchDir dir;
  const auto file = dir / "work" / "e" / "trial-0-a1" / "artifacts" / "f.bin";
  fs::create_directories(file.parent_path());
  testing::write_file(file, "0123456789");
  ArtifactUploads uploads(dir / "work", 4);
  const auto probes = uploads.on_fetch(fetch(file, 10));
  ASSERT_EQ(probes.size(), 1u);
  EXPECT_EQ(probes[0]["data"], "");
  EXPECT_EQ(probes[0]["offset"], 0);
  EXPECT_TRUE(uploads.on_fetch(fetch(file, 10)).empty());  // already under way

  auto chunk = uploads.on_ack({{"sha256", kSha}, {"offset", 6}});  // the store had 6 bytes already
  ASSERT_TRUE(chunk);
  EXPECT_EQ((*chunk)["offset"], 6);
  EXPECT_EQ(schema::base64_decode((*chunk)["data"].get<std::string>()), "6789");
  EXPECT_FALSE(uploads.on_ack({{"sha256", kSha}, {"offset", 6}}));  // a late answer to the probe: that chunk is in flight
  EXPECT_FALSE(uploads.on_ack({{"sha256", kSha}, {"offset", 10}, {"complete", true}}));
  EXPECT_EQ(uploads.active(), 0u);
}

TEST(ArtifactUploads, RefusesFilesOutsideItsWorkdirOrWithAnotherSize) {
  testing::ScratchDir dir;
  fs::create_directories(dir / "work");
  testing::write_file(dir / "secret", "keys");
  testing::write_file(dir / "work" / "f", "12345");
  ArtifactUploads uploads(dir / "work", 4);
  for (const auto& [path, bytes] : std::vector<std::pair<fs::path, int>>{
           {dir / "secret", 4}, {dir / "work" / ".." / "secret", 4}, {dir / "work" / "f", 4}, {dir / "work" / "gone", 1}}) {
    const auto answers = uploads.on_fetch(fetch(path, bytes));
    ASSERT_EQ(answers.size(), 1u);
    EXPECT_TRUE(answers[0].contains("error")) << path;
  }
  EXPECT_EQ(uploads.active(), 0u);
}

}  // namespace
}  // namespace lorafarm::worker
