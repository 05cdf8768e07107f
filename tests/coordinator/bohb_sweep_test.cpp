// The multi-fidelity sampler ("bohb") in a real sweep: command trials report
// a learning curve, ASHA stops the worse ones, and the sampler's per-rung
// models steer the later suggestions towards the optimum.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <algorithm>
#include <cmath>
#include <vector>

#include "schema/store.h"
#include "test_support.h"

namespace lorafarm::testing {
namespace {

using nlohmann::json;

constexpr int kTrials = 24;
constexpr int kDesign = 6;

// val_loss at step s is (x−0.3)² + (y−0.7)² + 1/s: every rung ranks the
// configurations as the final value does.
json bohb_spec() {
  const std::string trainer =
      "import json, sys, time\n"
      "x, y = float(sys.argv[1]), float(sys.argv[2])\n"
      "f = (x - 0.3) ** 2 + (y - 0.7) ** 2\n"
      "for step in range(1, 10):\n"
      "    print(json.dumps({'step': step, 'val_loss': f + 1.0 / step}), flush=True)\n"
      "    time.sleep(0.02)\n"
      "print(json.dumps({'final': True, 'val_loss': f + 1.0 / 9}), flush=True)\n";
  return {
      {"name", "bohb-demo"},
      {"seed", 5},
      {"objective", {{"metric", "val_loss"}, {"direction", "minimize"}}},
      {"budget", {{"trials", kTrials}}},
      {"search", {{"algorithm", "bohb"}, {"initial_trials", kDesign}}},
      {"scheduler", {{"type", "asha"}, {"min_resource", 1}, {"max_resource", 9}, {"reduction_factor", 3}}},
      {"search_space", {{"x", {{"type", "float"}, {"low", 0.0}, {"high", 1.0}}}, {"y", {{"type", "float"}, {"low", 0.0}, {"high", 1.0}}}}},
      {"trial", {{"kind", "command"}, {"command", {"python3", "-c", trainer, "{x}", "{y}"}}, {"timeout_seconds", 30}}},
  };
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

TEST(BohbSweep, PrunesWithAshaAndModelsTheRungsToFindTheOptimum) {
  ScratchDir dir;
  const auto spec = dir / "bohb.json";
  write_file(spec, bohb_spec().dump(2));
  const auto db = (dir / "bohb.db").string();
  const auto r = run_lorafarm({"sweep", spec.string(), "--db", db, "--workers", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  auto store = schema::Store::open_reader(db);
  const auto experiment = store.find_experiment("bohb-demo");
  ASSERT_TRUE(experiment);
  const auto trials = store.trials(experiment->id);
  ASSERT_EQ(trials.size(), static_cast<std::size_t>(kTrials));
  int pruned = 0;
  std::vector<double> design_distance, model_distance;
  for (const auto& t : trials) {
    if (t.status == schema::TrialStatus::Pruned) ++pruned;
    else EXPECT_EQ(t.status, schema::TrialStatus::Completed) << t.error;
    const double d = std::hypot(t.params["x"].get<double>() - 0.3, t.params["y"].get<double>() - 0.7);
    (t.number < kDesign ? design_distance : model_distance).push_back(d);
  }
  EXPECT_GE(pruned, 4);  // the design and the exploring suggestions lose at the first rungs
  // The Sobol design spreads over the square (median distance ≈ 0.4 to the
  // optimum); the models' suggestions gather around it.
  EXPECT_LT(median(model_distance), 0.15);
  EXPECT_LT(median(model_distance), median(design_distance) / 2);
}

}  // namespace
}  // namespace lorafarm::testing
