// A DPO sweep end to end (issue 18): examples/dpo_sweep.json, a grid over
// beta and the learning rate, run by `lorafarm sweep` with its coordinator and
// two local worker processes; the store holds every trial's DPO metrics and
// curves, and the report shows them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "acceptance/sqlite_reader.h"
#include "test_support.h"

namespace lorafarm::testing {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;

TEST(SweepDpo, BetaAndLearningRateGridRunsEndToEndAndTheReportShowsTheDpoMetrics) {
  ScratchDir dir;
  const auto db = (dir / "dpo.db").string();
  const auto spec = (source_dir() / "examples/dpo_sweep.json").string();
  const auto r = run_lorafarm({"sweep", spec, "--db", db, "--workers", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  const SqliteReader store(db);
  const auto results = store.rows(
      "SELECT t.params_json, r.metrics_json, t.objective FROM trials t JOIN results r ON r.trial_id = t.id "
      "WHERE t.status = 'COMPLETED' ORDER BY t.number");
  ASSERT_EQ(results.size(), 4u) << r.err;
  std::set<std::string> configurations;
  for (const auto& row : results) {
    const json params = json::parse(row[0]), metrics = json::parse(row[1]);
    configurations.insert(params.dump());
    for (const char* key : {"val_dpo_loss", "val_reward_accuracy", "val_reward_margin", "val_logps_chosen",
                            "val_logps_rejected", "test_reward_accuracy"}) {
      EXPECT_TRUE(metrics.contains(key)) << key << " in " << row[1];
    }
    EXPECT_FALSE(metrics.contains("val_ppl")) << "DPO's loss has no perplexity";
    EXPECT_EQ(metrics["memory_reference_model_mb"], 0.0) << "LoRA's reference is its base with adapters off";
    // The objective is the trial's validation reward accuracy, and training raised it from 0.5.
    EXPECT_NEAR(std::stod(row[2]), metrics["val_reward_accuracy"].get<double>(), 1e-12);
    EXPECT_GT(metrics["val_reward_accuracy"].get<double>(), 0.6) << row[0];
    EXPECT_GT(metrics["val_reward_margin"].get<double>(), 0.0) << row[0];
  }
  EXPECT_EQ(configurations.size(), 4u);
  // Learning curves: the reward accuracy at steps 0, 20 and 40 of every trial.
  EXPECT_EQ(store.scalar("SELECT COUNT(*) FROM metrics WHERE name = 'val_reward_accuracy'"), "12");
  EXPECT_EQ(store.scalar("SELECT COUNT(DISTINCT value) FROM metrics WHERE name = 'val_reward_accuracy' AND step = 0"), "1");

  const auto md = run_lorafarm({"report", "dpo-demo", "--db", db, "--format", "md"});
  ASSERT_EQ(md.exit_code, 0) << md.err;
  EXPECT_THAT(md.out, HasSubstr("#### Preference metrics (DPO), best trial per method"));
  EXPECT_THAT(md.out, HasSubstr("| method | best trial | reward accuracy | reward margin |"));
  EXPECT_THAT(md.out, HasSubstr("No base-model row: in a DPO experiment the base model is the reference"));
  const auto html = run_lorafarm({"report", "dpo-demo", "--db", db, "--format", "html"});
  ASSERT_EQ(html.exit_code, 0) << html.err;
  EXPECT_THAT(html.out, HasSubstr("<table class=\"preference\">"));

  const auto report = run_lorafarm({"report", "dpo-demo", "--db", db, "--format", "json"});
  ASSERT_EQ(report.exit_code, 0) << report.err;
  const json j = json::parse(report.out);
  ASSERT_EQ(j["preference_metrics"].size(), 1u);  // one group: no method parameter
  const json& best = j["preference_metrics"][0];
  const std::string best_accuracy =
      store.scalar("SELECT MAX(objective) FROM trials WHERE status = 'COMPLETED'");
  EXPECT_NEAR(best["val_reward_accuracy"].get<double>(), std::stod(best_accuracy), 1e-12);
  EXPECT_EQ(j["objective"]["metric"], "val_reward_accuracy");
}

}  // namespace
}  // namespace lorafarm::testing
