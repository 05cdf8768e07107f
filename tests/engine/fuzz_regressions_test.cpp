// Inputs the fuzzers (fuzz/, docs/fuzzing.md) found mishandled by the engine's
// file readers, each kept as the behaviour it must have. The same inputs are in
// fuzz/corpus/ and replayed by fuzz_corpus_replay; the undefined behaviour
// some of them caused is reported by scripts/sanitize.sh (UBSan).
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "engine/error.h"
#include "engine/jsonl.h"
#include "engine/model_config.h"
#include "engine/safetensors.h"
#include "engine/tokenizer.h"
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

// nlohmann::json reports a number too large for a double (1e400) as
// out_of_range, not parse_error; every reader must still turn it into one
// InvalidInput naming the file instead of letting it escape.
TEST(JsonReadersFuzzRegressions, NumberOverflowInSafetensorsHeaderIsInvalidInput) {
  testing::ScratchDir dir;
  testing::write_file(dir / "t.safetensors",
                      safetensors_bytes(R"({"w":{"dtype":"F32","shape":[4e400],"data_offsets":[0,0]}})"));
  try {
    SafetensorsFile::open(dir / "t.safetensors");
    FAIL() << "a header with 4e400 was accepted";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("t.safetensors"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("not valid JSON"), std::string::npos) << e.what();
  }
}

TEST(JsonReadersFuzzRegressions, NumberOverflowInJsonlNamesTheLine) {
  testing::ScratchDir dir;
  testing::write_file(dir / "train.jsonl", "{\"text\": \"a\"}\n{\"text\": \"b\", \"w\": 1e400}\n");
  try {
    read_jsonl(dir / "train.jsonl");
    FAIL() << "a line with 1e400 was accepted";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("train.jsonl:2: malformed JSON"), std::string::npos) << e.what();
  }
}

TEST(JsonReadersFuzzRegressions, NumberOverflowInTokenizerJsonIsInvalidInput) {
  testing::ScratchDir dir;
  testing::write_file(dir / "tokenizer.json", R"({"version": 1e400, "model": {"type": "BPE", "vocab": {}, "merges": []}})");
  EXPECT_THROW(load_hf_tokenizer(dir / "tokenizer.json"), InvalidInput);
}

TEST(JsonReadersFuzzRegressions, NumberOverflowInModelConfigIsInvalidInput) {
  testing::ScratchDir dir;
  testing::write_file(dir / "config.json", R"({"hidden_size": 1e400})");
  EXPECT_THROW(ModelConfig::load(dir.path()), InvalidInput);
}

}  // namespace
}  // namespace lorafarm::engine
