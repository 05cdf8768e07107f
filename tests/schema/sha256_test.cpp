// SHA-256 against the FIPS 180-4 example vectors.
#include "schema/sha256.h"

#include <gtest/gtest.h>

#include "test_support.h"

namespace lorafarm::schema {
namespace {

TEST(Sha256, MatchesTheStandardVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, IncrementalUpdatesAndFilesAgree) {
  Sha256 h;
  const std::string text(1000, 'x');
  for (int i = 0; i < 10; ++i) h.update(std::string_view(text).substr(i * 100, 100));
  const auto digest = h.hex_digest();
  EXPECT_EQ(digest, sha256_hex(text));
  testing::ScratchDir dir;
  testing::write_file(dir / "f", text);
  EXPECT_EQ(sha256_file(dir / "f"), digest);
  EXPECT_THROW(sha256_file(dir / "missing"), std::runtime_error);
}

}  // namespace
}  // namespace lorafarm::schema
