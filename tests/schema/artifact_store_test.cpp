// The artifact store's pieces: base64 against RFC 4648's test vectors, the
// object store's resumable uploads against FIPS 180-4's "abc" digest, and the
// home path of a worker's file.
#include "schema/artifact_store.h"

#include <gtest/gtest.h>

#include "schema/base64.h"
#include "test_support.h"

namespace lorafarm::schema {
namespace {

namespace fs = std::filesystem;

// FIPS 180-4, appendix B.1: SHA-256("abc").
const std::string kAbc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

TEST(Base64, MatchesRfc4648Vectors) {
  const std::vector<std::pair<std::string, std::string>> vectors{{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
                                                                 {"foo", "Zm9v"},  {"foob", "Zm9vYg=="},  {"fooba", "Zm9vYmE="},
                                                                 {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(base64_encode(plain), encoded);
    EXPECT_EQ(base64_decode(encoded), plain);
  }
  const std::string binary{'\0', '\xff', '\x10', '\x80'};
  EXPECT_EQ(base64_decode(base64_encode(binary)), binary);
  for (const char* bad : {"Zg=", "Z===", "Zm9v!A==", "Zg=a", "Z=g="}) EXPECT_FALSE(base64_decode(bad)) << bad;
}

TEST(ObjectStore, RefusesAChunkAtTheWrongOffsetWithTheOffsetItHas) {
  testing::ScratchDir dir;
  const ObjectStore objects(dir.path());
  EXPECT_EQ(objects.received(kAbc), 0);
  auto r = objects.append(kAbc, 3, 0, "a");
  EXPECT_EQ(r.outcome, ObjectStore::Outcome::Accepted);
  EXPECT_EQ(r.offset, 1);
  r = objects.append(kAbc, 3, 0, "a");  // a repeat of the first chunk
  EXPECT_EQ(r.outcome, ObjectStore::Outcome::WrongOffset);
  EXPECT_EQ(r.offset, 1);
  r = objects.append(kAbc, 3, 2, "c");  // a gap
  EXPECT_EQ(r.outcome, ObjectStore::Outcome::WrongOffset);
  EXPECT_EQ(r.offset, 1);
  r = objects.append(kAbc, 3, 1, "");  // a probe
  EXPECT_EQ(r.outcome, ObjectStore::Outcome::Accepted);
  EXPECT_EQ(r.offset, 1);
  EXPECT_FALSE(objects.has(kAbc));
  r = objects.append(kAbc, 3, 1, "bc");
  EXPECT_EQ(r.outcome, ObjectStore::Outcome::Stored);
  EXPECT_EQ(r.offset, 3);
  EXPECT_TRUE(objects.has(kAbc));
  EXPECT_EQ(objects.object_path(kAbc), dir / "objects" / "ba" / kAbc);
  EXPECT_EQ(testing::read_file(objects.object_path(kAbc)), "abc");
  EXPECT_FALSE(fs::exists(dir / "objects" / "tmp" / (kAbc + ".part")));
}

TEST(ObjectStore, DiscardsAnUploadWhoseContentFailsItsSha256) {
  testing::ScratchDir dir;
  const ObjectStore objects(dir.path());
  EXPECT_EQ(objects.append(kAbc, 3, 0, "ab").outcome, ObjectStore::Outcome::Accepted);
  const auto r = objects.append(kAbc, 3, 2, "x");  // "abx" is not "abc"
  EXPECT_EQ(r.outcome, ObjectStore::Outcome::Corrupt);
  EXPECT_EQ(r.offset, 0);
  EXPECT_FALSE(objects.has(kAbc));
  EXPECT_EQ(objects.received(kAbc), 0);
  // More bytes than announced is corrupt too, and never reaches the object.
  EXPECT_EQ(objects.append(kAbc, 3, 0, "abcd").outcome, ObjectStore::Outcome::Corrupt);
  EXPECT_FALSE(objects.has(kAbc));
  EXPECT_THROW(objects.object_path("../../etc/passwd"), std::invalid_argument);
}

TEST(ObjectStore, MaterialisesAnObjectInAHomeFolder) {
  testing::ScratchDir dir;
  const ObjectStore objects(dir.path());
  ASSERT_EQ(objects.append(kAbc, 3, 0, "abc").outcome, ObjectStore::Outcome::Stored);
  const auto home = dir / "trials" / "e" / "trial-1-a2" / "artifacts" / "x.bin";
  fs::create_directories(home.parent_path());
  testing::write_file(home, "old");
  objects.materialise(kAbc, home);
  EXPECT_EQ(testing::read_file(home), "abc");
}

TEST(HomePath, KeepsTheLayoutBelowTheWorkersAttemptFolder) {
  const fs::path store = "/db/night-artifacts";
  EXPECT_EQ(home_path(store, "exp", 3, 2, "/scratch/w/exp/trial-3-a2/artifacts/adapter/adapter_config.json"),
            store / "trials" / "exp" / "trial-3-a2" / "artifacts" / "adapter" / "adapter_config.json");
  // A path without the attempt's folder, or one that climbs out, lands in artifacts/ by its name.
  EXPECT_EQ(home_path(store, "exp", 3, 2, "/elsewhere/file.txt"), store / "trials" / "exp" / "trial-3-a2" / "artifacts" / "file.txt");
  EXPECT_EQ(home_path(store, "exp", 3, 2, "/w/exp/trial-3-a2/artifacts/../../../etc/passwd"),
            store / "trials" / "exp" / "trial-3-a2" / "artifacts" / "passwd");
  EXPECT_TRUE(is_sha256_hex(kAbc));
  EXPECT_FALSE(is_sha256_hex(kAbc.substr(1)));
  EXPECT_FALSE(is_sha256_hex("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"));
}

}  // namespace
}  // namespace lorafarm::schema
