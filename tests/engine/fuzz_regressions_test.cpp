// Inputs the fuzzers (fuzz/, docs/fuzzing.md) found mishandled by the engine's
// file readers, each kept as the behaviour it must have. The same inputs are in
// fuzz/corpus/ and replayed by fuzz_corpus_replay; the undefined behaviour
// some of them caused is reported by scripts/sanitize.sh (UBSan).
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "engine/safetensors.h"
#include "test_support.h"

namespace lorafarm::engine {
namespace {

// The 8-byte length, then the header JSON.
std::string safetensors_bytes(const std::string& header) {
  std::string bytes(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(bytes.data(), &n, 8);
  return bytes + header;
}

TEST(SafetensorsFuzzRegressions, EmptyFloatTensorWidensToEmptyVector) {
  testing::ScratchDir dir;
  testing::write_file(dir / "t.safetensors",
                      safetensors_bytes(R"({"empty":{"dtype":"F32","shape":[0,4],"data_offsets":[0,0]}})"));
  const SafetensorsFile file = SafetensorsFile::open(dir / "t.safetensors");
  EXPECT_EQ(file.tensor("empty").num_elements(), 0);
  EXPECT_TRUE(file.tensor("empty").to_float().empty());
}

}  // namespace
}  // namespace lorafarm::engine
