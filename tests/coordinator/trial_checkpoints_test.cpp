// Which checkpoint a new attempt resumes from: the latest one of any earlier
// attempt whose files are all on the coordinator's machine; and the CHECKPOINT
// event's detail read back after a restart.
#include "coordinator/trial_checkpoints.h"

#include <gtest/gtest.h>

#include <set>

namespace lorafarm::coordinator {
namespace {

using nlohmann::json;

CheckpointRecord record(std::int64_t trial, int attempt, std::int64_t step, std::vector<std::string> shas) {
  CheckpointRecord r{trial, attempt, step, "w", {}};
  for (const auto& sha : shas) r.files.push_back({sha + ".bin", "/work/" + sha, sha, 3});
  return r;
}

TEST(TrialCheckpoints, TheLatestCheckpointWhoseFilesAreAllHomeIsTheOneToResumeFrom) {
  std::set<std::string> home{"a", "b", "c", "d"};
  TrialCheckpoints checkpoints([&home](const CheckpointRecord&, const CheckpointFile& f) -> std::optional<std::filesystem::path> {
    if (!home.count(f.sha256)) return std::nullopt;
    return std::filesystem::path("/store") / f.sha256;
  });
  EXPECT_EQ(checkpoints.usable(0), nullptr);
  checkpoints.add(record(0, 1, 50, {"a", "b"}));
  checkpoints.add(record(0, 1, 100, {"c", "x"}));  // "x" has not arrived: not usable
  checkpoints.add(record(1, 1, 300, {"d"}));        // another trial's
  ASSERT_NE(checkpoints.usable(0), nullptr);
  EXPECT_EQ(checkpoints.usable(0)->step, 50);
  home.insert("x");
  EXPECT_EQ(checkpoints.usable(0)->step, 100);
  checkpoints.add(record(0, 2, 150, {"d"}));  // a resumed attempt's later checkpoint
  EXPECT_EQ(checkpoints.usable(0)->step, 150);
  EXPECT_EQ(checkpoints.usable(0)->attempt, 2);

  const json resume = TrialCheckpoints::resume_body(*checkpoints.usable(0));
  EXPECT_EQ(resume, (json{{"step", 150}, {"attempt", 2}, {"files", {{{"name", "d.bin"}, {"sha256", "d"}, {"bytes", 3}}}}}));
  EXPECT_EQ(checkpoints.source(0, "c"), std::filesystem::path("/store/c"));
  EXPECT_FALSE(checkpoints.source(0, "zzz"));
  EXPECT_FALSE(checkpoints.source(2, "a"));  // only a checkpoint of the asked trial is served
}

TEST(TrialCheckpoints, RetiringKeepsTheKeptCheckpointAndEveryLaterOne) {
  TrialCheckpoints checkpoints([](const CheckpointRecord&, const CheckpointFile& f) { return std::filesystem::path("/store") / f.sha256; });
  checkpoints.add(record(0, 1, 50, {"a"}));
  checkpoints.add(record(0, 1, 100, {"b"}));
  checkpoints.add(record(0, 2, 100, {"c"}));  // the same step, a later attempt
  checkpoints.add(record(0, 2, 150, {"d"}));
  checkpoints.add(record(1, 1, 10, {"e"}));   // another trial's
  const auto retired = checkpoints.retire_older(record(0, 2, 100, {"c"}));
  ASSERT_EQ(retired.size(), 2u);
  EXPECT_EQ(retired[0].step, 50);
  EXPECT_EQ(retired[1].step, 100);
  EXPECT_EQ(retired[1].attempt, 1);
  EXPECT_EQ(checkpoints.usable(0)->step, 150);
  EXPECT_FALSE(checkpoints.source(0, "a"));  // a retired checkpoint is never served
  EXPECT_EQ(checkpoints.source(0, "c"), std::filesystem::path("/store/c"));
  checkpoints.forget(0, 2, 150);
  EXPECT_EQ(checkpoints.usable(0)->step, 100);
  EXPECT_EQ(checkpoints.retire_all(0).size(), 1u);
  EXPECT_EQ(checkpoints.usable(0), nullptr);
  EXPECT_EQ(checkpoints.usable(1)->step, 10);
}

TEST(TrialCheckpoints, TheEventDetailReadsBackAsTheSameRecord) {
  const CheckpointRecord r = record(4, 2, 70, {"a", "b"});
  const CheckpointRecord back = CheckpointRecord::from_event(4, 2, r.to_json());
  EXPECT_EQ(back.step, 70);
  EXPECT_EQ(back.worker, "w");
  ASSERT_EQ(back.files.size(), 2u);
  EXPECT_EQ(back.files[1].name, "b.bin");
  EXPECT_EQ(back.files[1].path, "/work/b");
  EXPECT_EQ(back.files[1].sha256, "b");
  EXPECT_EQ(back.files[1].bytes, 3);
  EXPECT_THROW(CheckpointRecord::from_event(4, 2, json{{"step", 1}}), json::exception);
}

}  // namespace
}  // namespace lorafarm::coordinator
