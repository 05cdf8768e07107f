// Inputs the fuzzers (fuzz/, docs/fuzzing.md) found mishandled by the schema
// parsers, each kept as the behaviour it must have; the same inputs are in
// fuzz/corpus/ and replayed by fuzz_corpus_replay.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "schema/sweep_spec.h"

namespace lorafarm::schema {
namespace {

using ::testing::HasSubstr;

// nlohmann::json reports a number too large for a double as out_of_range,
// not parse_error: it must still be a SpecError naming the file.
TEST(SweepSpecFuzzRegressions, NumberOverflowIsASpecError) {
  try {
    parse_sweep_spec(R"({"name": "x", "budget": {"trials": 444e4444444}})", "/tmp", "big.json");
    FAIL() << "a spec with 444e4444444 was accepted";
  } catch (const SpecError& e) {
    EXPECT_THAT(e.what(), HasSubstr("big.json: not valid JSON"));
  }
}

}  // namespace
}  // namespace lorafarm::schema
