// `lorafarm rerun`: a trial of the quick-start sweep, run again from the
// database alone, reproduces its recorded validation loss bit for bit.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test_support.h"

namespace lorafarm::testing {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;

json quickstart_spec() { return json::parse(read_file(source_dir() / "examples/quickstart.json"), nullptr, true, true); }

// Runs `spec` as a sweep, then re-runs `trial` and checks every deterministic
// metric (losses, perplexities, counts) is identical.
void sweep_then_rerun(const json& spec, const std::vector<int>& trials_to_rerun) {
  ScratchDir dir;
  write_file(dir / "spec.json", spec.dump(2));
  const auto db = (dir / "sweep.db").string();
  const auto sweep = run_lorafarm({"sweep", (dir / "spec.json").string(), "--db", db, "--workers", "2"});
  ASSERT_EQ(sweep.exit_code, 0) << sweep.err;
  const std::string name = spec["name"];
  for (const int trial : trials_to_rerun) {
    const auto r = run_lorafarm({"rerun", name, std::to_string(trial), "--db", db, "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    const auto report = json::parse(r.out);
    EXPECT_EQ(report["reproduced"], true) << report.dump(2);
    bool compared_val_loss = false;
    for (const auto& c : report["comparison"]) {
      EXPECT_TRUE(c["identical"].get<bool>()) << c.dump();
      if (c["metric"] == "val_loss") compared_val_loss = true;
    }
    EXPECT_TRUE(compared_val_loss) << report.dump(2);
  }
}

// The short version, one trial of each method, is
// AcceptanceRerun.OneTrialOfEachMethodReproducesBitForBit (tests/acceptance/).
TEST(RerunCliSlow, QuickstartTrialsReproduceBitForBit) {
  auto spec = quickstart_spec();
  spec["model"] = (source_dir() / "examples/models/stories260K").string();
  spec["data"] = (source_dir() / "examples/data/fortunes").string();
  sweep_then_rerun(spec, {0, 1, 2, 13});
}

TEST(RerunCli, NamesAMissingExperimentOrTrial) {
  ScratchDir dir;
  const auto db = (dir / "demo.db").string();
  const auto sweep = run_lorafarm({"sweep", (source_dir() / "examples/command_sweep.json").string(), "--db", db, "--workers", "2"});
  ASSERT_EQ(sweep.exit_code, 0) << sweep.err;
  const auto unknown = run_lorafarm({"rerun", "nope", "0", "--db", db});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_THAT(unknown.err, HasSubstr("no experiment 'nope'"));
  const auto past_end = run_lorafarm({"rerun", "command-demo", "99", "--db", db});
  EXPECT_EQ(past_end.exit_code, 1);
  EXPECT_THAT(past_end.err, HasSubstr("not 99"));
  // A command trial is re-run too (its made-up trainer is seeded by LORAFARM_SEED).
  const auto again = run_lorafarm({"rerun", "command-demo", "5", "--db", db, "--json"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(json::parse(again.out)["reproduced"], true);
}

}  // namespace
}  // namespace lorafarm::testing
