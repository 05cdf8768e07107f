// Acceptance: ASHA on the bundled model (examples/asha_sweep.json) against
// the same configurations run to the full budget, as scripts/asha-check.sh
// does: ASHA must use at most 40 % of the full sweep's training iterations
// and find a best validation perplexity within 2 % of the full sweep's best.
// Both numbers are read from the two sweeps' tables with the SQLite C API.
// Run at full size (27 configurations, 90 iterations each): it costs about
// 75 CPU-seconds, and a smaller grid would check another sweep than the
// script's (measured margins in docs/training.md, "What CI checks").
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <utility>

#include "acceptance/sqlite_reader.h"
#include "test_support.h"

namespace lorafarm::testing {
namespace {

using nlohmann::json;

struct SweepCost {
  std::int64_t trials = 0;
  std::int64_t completed = 0;
  std::int64_t iterations = 0;  // the last training step each trial reached, summed
  double best_val_ppl = 0;
};

// As scripts/asha-check.sh counts: a trial's iterations are the last step of
// its train_loss curve; the best is the lowest final val_ppl of a completed trial.
SweepCost sweep_cost(const SqliteReader& db, const std::string& experiment) {
  const std::string trials =
      "FROM trials t JOIN experiments e ON e.id = t.experiment_id WHERE e.name = '" + experiment + "'";
  SweepCost cost;
  cost.trials = db.integer("SELECT COUNT(*) " + trials);
  cost.completed = db.integer("SELECT COUNT(*) " + trials + " AND t.status = 'COMPLETED'");
  cost.iterations = db.integer(
      "SELECT COALESCE(SUM((SELECT MAX(step) FROM metrics m WHERE m.trial_id = t.id AND m.name = 'train_loss')), 0) " + trials);
  cost.best_val_ppl = db.real("SELECT MIN(r.val_ppl) FROM results r JOIN trials t ON t.id = r.trial_id "
                              "JOIN experiments e ON e.id = t.experiment_id WHERE e.name = '" + experiment +
                              "' AND t.status = 'COMPLETED'");
  return cost;
}

json asha_example() {
  auto spec = json::parse(read_file(source_dir() / "examples/asha_sweep.json"), nullptr, true, true);
  spec["model"] = bundled_model().string();
  spec["data"] = bundled_data("fortunes").string();
  return spec;
}

TEST(AcceptanceAsha, UsesAtMostFortyPercentOfTheIterationsAndFindsABestWithinTwoPercent) {
  ScratchDir dir;
  auto asha = asha_example();
  auto full = asha;
  full["name"] = "asha-baseline";  // the same grid, trial numbers and seeds, no pruning
  full["scheduler"] = {{"type", "none"}};
  write_file(dir / "asha.json", asha.dump(2));
  write_file(dir / "full.json", full.dump(2));
  const auto db = (dir / "check.db").string();
  // The full sweep's numbers do not depend on the order trials finish in;
  // ASHA's decisions do, so it runs on one worker to decide the same way every time.
  for (const auto& [spec, workers] : {std::pair{"full.json", "2"}, std::pair{"asha.json", "1"}}) {
    const auto r = run_lorafarm({"sweep", (dir / spec).string(), "--db", db, "--workers", workers});
    ASSERT_EQ(r.exit_code, 0) << spec << ": " << r.err;
  }

  const SqliteReader reader(db);
  const auto baseline = sweep_cost(reader, "asha-baseline");
  const auto pruned = sweep_cost(reader, asha["name"]);
  const int per_trial = asha["fixed"]["iters"];
  EXPECT_EQ(baseline.trials, asha["budget"]["trials"].get<int>());
  EXPECT_EQ(baseline.completed, baseline.trials);
  EXPECT_EQ(baseline.iterations, baseline.trials * per_trial);  // the count itself is right
  EXPECT_EQ(pruned.trials, baseline.trials);
  EXPECT_GE(pruned.completed, 1);
  const double share = static_cast<double>(pruned.iterations) / static_cast<double>(baseline.iterations);
  const double gap = pruned.best_val_ppl / baseline.best_val_ppl - 1.0;
  std::printf("ASHA: %lld of %lld iterations (%.1f %%), %lld trials completed; best val ppl %.4f vs %.4f (%+.2f %%)\n",
              static_cast<long long>(pruned.iterations), static_cast<long long>(baseline.iterations), 100 * share,
              static_cast<long long>(pruned.completed), pruned.best_val_ppl, baseline.best_val_ppl, 100 * gap);
  EXPECT_LE(share, 0.40);
  EXPECT_LE(gap, 0.02);
}

}  // namespace
}  // namespace lorafarm::testing
