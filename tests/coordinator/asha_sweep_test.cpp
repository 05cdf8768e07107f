// ASHA in a real sweep: command trials whose validation loss is their `x`,
// reported at every step; the scheduler stops the worse ones early.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "schema/store.h"
#include "test_support.h"

namespace lorafarm::testing {
namespace {

using nlohmann::json;

constexpr int kTrials = 18;
constexpr int kSteps = 9;

json asha_spec() {
  const std::string trainer =
      "import json, sys, time\n"
      "x = float(sys.argv[1])\n"
      "for step in range(1, 10):\n"
      "    print(json.dumps({'step': step, 'val_loss': x + 1.0 / step}), flush=True)\n"
      "    time.sleep(0.05)\n"
      "print(json.dumps({'final': True, 'val_loss': x}), flush=True)\n";
  return {
      {"name", "asha-demo"},
      {"seed", 3},
      {"objective", {{"metric", "val_loss"}, {"direction", "minimize"}}},
      {"budget", {{"trials", kTrials}}},
      {"search", {{"algorithm", "random"}}},
      {"scheduler", {{"type", "asha"}, {"min_resource", 1}, {"max_resource", kSteps}, {"reduction_factor", 3}}},
      {"search_space", {{"x", {{"type", "float"}, {"low", 0.0}, {"high", 1.0}}}}},
      {"trial", {{"kind", "command"}, {"command", {"python3", "-c", trainer, "{x}"}}, {"timeout_seconds", 30}}},
  };
}

TEST(AshaSweep, StopsWorseTrialsEarlyAndKeepsTheBest) {
  ScratchDir dir;
  const auto spec = dir / "asha.json";
  write_file(spec, asha_spec().dump(2));
  const auto db = (dir / "asha.db").string();
  const auto r = run_lorafarm({"sweep", spec.string(), "--db", db, "--workers", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  auto store = schema::Store::open_reader(db);
  const auto experiment = store.find_experiment("asha-demo");
  ASSERT_TRUE(experiment);
  const auto trials = store.trials(experiment->id);
  ASSERT_EQ(trials.size(), static_cast<std::size_t>(kTrials));

  int pruned = 0, completed = 0;
  std::size_t steps_run = 0;
  double best_x = 2.0, best_completed_x = 2.0;
  for (const auto& t : trials) {
    const double x = t.params["x"].get<double>();
    best_x = std::min(best_x, x);
    if (t.status == schema::TrialStatus::Pruned) {
      ++pruned;
      EXPECT_NE(t.error.find("stopped"), std::string::npos) << t.error;
    } else {
      ASSERT_EQ(t.status, schema::TrialStatus::Completed) << t.error;
      ++completed;
      best_completed_x = std::min(best_completed_x, x);
    }
    for (const auto& m : store.metrics(t.id))
      if (m.name == "val_loss") ++steps_run;
  }
  EXPECT_GT(pruned, kTrials / 3);
  EXPECT_GE(completed, 1);
  // The best configuration is never pruned: at each rung it is the best so far.
  EXPECT_EQ(best_completed_x, best_x);
  EXPECT_LT(steps_run, static_cast<std::size_t>(kTrials * kSteps) * 6 / 10);

  int stop_events = 0;
  for (const auto& e : store.events(experiment->id))
    if (e.kind == "SCHEDULER_STOP") ++stop_events;
  EXPECT_EQ(stop_events, pruned);
}

}  // namespace
}  // namespace lorafarm::testing
