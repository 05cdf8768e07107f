// Choosing a rank from a nested-rank trial's curve, alone and in a sweep.
#include "coordinator/rank_selection.h"

#include <gtest/gtest.h>

#include "schema/store.h"
#include "test_support.h"

namespace lorafarm::testing {
namespace {

using coordinator::choose_rank;
using nlohmann::json;

TEST(RankSelection, PicksTheSmallestRankWithinEpsilonOfTheBest) {
  const json metrics{{"val_loss", 2.0},         {"val_loss@r1", 2.30}, {"val_loss@r2", 2.10}, {"val_loss@r4", 2.02},
                     {"val_loss@r8", 2.00},     {"val_loss@r16", 2.01}, {"val_ppl@r1", 9.9}, {"val_loss@rx", 0.0}};
  const auto best = choose_rank(metrics, "val_loss", 0.0, false);
  ASSERT_TRUE(best);
  EXPECT_EQ(best->rank, 8);
  EXPECT_DOUBLE_EQ(best->value, 2.00);
  const auto within = choose_rank(metrics, "val_loss", 0.025, false);
  ASSERT_TRUE(within);
  EXPECT_EQ(within->rank, 4);
  EXPECT_EQ(choose_rank(metrics, "val_loss", 1.0, false)->rank, 1);
  // Maximised metrics: within ε below the best.
  const json accuracy{{"acc@r2", 0.80}, {"acc@r4", 0.89}, {"acc@r8", 0.90}};
  EXPECT_EQ(choose_rank(accuracy, "acc", 0.02, true)->rank, 4);
  EXPECT_FALSE(choose_rank(json{{"val_loss", 1.0}}, "val_loss", 0.0, false));
}

TEST(RankSelection, ASweepTakesItsObjectiveAtTheChosenRank) {
  ScratchDir dir;
  // A made-up trainer whose loss falls with rank as 2 + 1/r and is the same
  // for every configuration.
  const std::string trainer =
      "import json\n"
      "final = {'final': True, 'val_loss': 2.0 + 1.0 / 16}\n"
      "for r in (1, 2, 4, 8, 16):\n"
      "    final['val_loss@r%d' % r] = 2.0 + 1.0 / r\n"
      "print(json.dumps(final))\n";
  const json spec{{"name", "rank-demo"},
                  {"budget", {{"trials", 3}}},
                  {"rank_selection", {{"epsilon", 0.1}}},
                  {"search_space", {{"x", {{"type", "float"}, {"low", 0.0}, {"high", 1.0}}}}},
                  {"trial", {{"kind", "command"}, {"command", {"python3", "-c", trainer}}}}};
  write_file(dir / "spec.json", spec.dump());
  const auto db = (dir / "rank.db").string();
  const auto r = run_lorafarm({"sweep", (dir / "spec.json").string(), "--db", db, "--workers", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto store = schema::Store::open_reader(db);
  for (const auto& t : store.trials(store.find_experiment("rank-demo")->id)) {
    ASSERT_EQ(t.status, schema::TrialStatus::Completed) << t.error;
    // Within 0.1 of the best (2.0625): rank 8 (2.125) is the smallest such.
    EXPECT_DOUBLE_EQ(*t.objective, 2.125);
    const auto result = store.result(t.id);
    ASSERT_TRUE(result);
    EXPECT_EQ(result->metrics["chosen_rank"], 8);
    EXPECT_DOUBLE_EQ(result->metrics["val_loss"].get<double>(), 2.0625);  // the full-rank number stays as reported
  }
}

}  // namespace
}  // namespace lorafarm::testing
