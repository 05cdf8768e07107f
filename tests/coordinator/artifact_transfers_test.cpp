// Which recorded files travel home, and FETCH bodies that always pass the
// protocol's own validation and frame limit.
#include "coordinator/artifact_transfers.h"

#include <gtest/gtest.h>

#include "schema/messages.h"
#include "schema/sha256.h"
#include "test_support.h"

namespace lorafarm::coordinator {
namespace {

namespace fs = std::filesystem;

schema::ArtifactRecord record(const std::string& path, const std::string& content, const std::string& worker = "far") {
  return {1, 1, worker, path, schema::sha256_hex(content), static_cast<std::int64_t>(content.size())};
}

TEST(ArtifactTransfers, PlansEachFileByWhereItsContentAlreadyIs) {
  testing::ScratchDir dir;
  const fs::path store = dir / "night-artifacts";
  ArtifactTransfers transfers(store, dir / "local", 10);
  const auto home = store / "trials" / "e" / "trial-0-a1" / "artifacts" / "a.txt";
  fs::create_directories(home.parent_path());
  testing::write_file(home, "home");
  fs::create_directories(dir / "local");
  testing::write_file(dir / "local" / "b.txt", "local");
  EXPECT_EQ(transfers.plan("e", 0, record(home.string(), "home")), ArtifactTransfers::Plan::AtHome);
  EXPECT_EQ(transfers.plan("e", 0, record((dir / "local" / "b.txt").string(), "local")), ArtifactTransfers::Plan::AtHome);
  EXPECT_EQ(transfers.plan("e", 0, record("/far/e/trial-0-a1/artifacts/big.bin", "eleven bytes")), ArtifactTransfers::Plan::TooLarge);
  EXPECT_EQ(transfers.plan("e", 0, record("/far/e/trial-0-a1/artifacts/c.txt", "fetch me")), ArtifactTransfers::Plan::Fetch);
  EXPECT_EQ(transfers.size(), 1u);
  // The same content recorded by another attempt, once stored, is only linked.
  const auto sha = schema::sha256_hex("fetch me");
  ASSERT_EQ(transfers.objects().append(sha, 8, 0, "fetch me").outcome, schema::ObjectStore::Outcome::Stored);
  transfers.stored(sha);
  EXPECT_EQ(testing::read_file(store / "trials" / "e" / "trial-0-a1" / "artifacts" / "c.txt"), "fetch me");
  EXPECT_EQ(transfers.plan("e", 2, record("/far/e/trial-2-a1/artifacts/c.txt", "fetch me")), ArtifactTransfers::Plan::Linked);
  EXPECT_EQ(testing::read_file(store / "trials" / "e" / "trial-2-a1" / "artifacts" / "c.txt"), "fetch me");
  EXPECT_EQ(transfers.size(), 0u);
}

TEST(ArtifactTransfers, FetchBodiesStayValidAndSmallForManyLongPaths) {
  testing::ScratchDir dir;
  ArtifactTransfers transfers(dir / "store", {}, std::int64_t{1} << 30);
  const std::string folder = "/far/e/trial-0-a1/artifacts/" + std::string(3000, 'd') + "/";
  for (int i = 0; i < 1500; ++i) transfers.plan("e", 0, record(folder + std::to_string(i), "content " + std::to_string(i)));
  transfers.plan("e", 0, record("/other/e/trial-0-a1/artifacts/x", "not yours", "other"));
  const auto bodies = transfers.fetches_for("far");
  ASSERT_GT(bodies.size(), 1u);
  std::size_t files = 0;
  for (const auto& body : bodies) {
    EXPECT_NO_THROW(schema::validate_body(schema::MessageType::Fetch, body));
    EXPECT_LT(body.dump().size(), schema::kMaxBodyBytes / 2);
    files += body["files"].size();
  }
  EXPECT_EQ(files, 1500u);
  EXPECT_EQ(transfers.fetches_for("other").size(), 1u);
}

}  // namespace
}  // namespace lorafarm::coordinator
