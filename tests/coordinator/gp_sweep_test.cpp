// A sweep driven by the GP sampler end to end: real workers, command trials.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <algorithm>
#include <set>

#include "test_support.h"

namespace lorafarm::testing {
namespace {

TEST(GpSweep, RunsTheBayesExampleToTheEnd) {
  ScratchDir dir;
  const auto db = (dir / "bayes.db").string();
  const auto r = run_lorafarm({"sweep", (source_dir() / "examples/bayes_sweep.json").string(), "--db", db,
                               "--workers", "2", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto trials = run_lorafarm({"trials", "bayes-demo", "--db", db, "--json"});
  ASSERT_EQ(trials.exit_code, 0) << trials.err;
  const auto rows = nlohmann::json::parse(trials.out);
  ASSERT_EQ(rows.size(), 20u);
  std::set<std::string> configurations;
  for (const auto& row : rows) {
    EXPECT_EQ(row["status"], "COMPLETED") << row.dump();
    const auto& p = row["params"];
    EXPECT_EQ(p.contains("rank"), p["method"] != "full") << p.dump();  // inactive parameters stay unset
    configurations.insert(p.dump());
  }
  EXPECT_EQ(configurations.size(), rows.size());  // no configuration suggested twice
}

// Two objectives computed from the parameters by the trial itself: f1 = x,
// f2 = (1 - x)² + y (Pareto-optimal where y = 0). Real workers, real processes.
TEST(GpSweep, MultiObjectiveSweepReportsTheParetoFrontAndTheSamplerUsesBoth) {
  ScratchDir dir;
  const auto spec_path = dir / "multi.json";
  write_file(spec_path, R"spec({
    "name": "multi", "seed": 4,
    "objectives": [{"metric": "f1", "direction": "minimize"}, {"metric": "f2", "direction": "minimize"}],
    "budget": {"trials": 14},
    "search": {"algorithm": "gp"},
    "search_space": {"x": {"type": "float", "low": 0, "high": 1}, "y": {"type": "float", "low": 0, "high": 1}},
    "trial": {"kind": "command", "timeout_seconds": 30,
              "command": ["python3", "-c", "import json,sys; x,y=float(sys.argv[1]),float(sys.argv[2]); print(json.dumps({'final': True, 'f1': x, 'f2': (1-x)**2 + y}))", "{x}", "{y}"]}
  })spec");
  const auto db = (dir / "multi.db").string();
  const auto r = run_lorafarm({"sweep", spec_path.string(), "--db", db, "--workers", "2", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto summary = nlohmann::json::parse(r.out);
  ASSERT_EQ(summary["objectives"].size(), 2u);
  EXPECT_EQ(summary["objectives"][1]["metric"], "f2");
  const auto& front = summary["pareto_front"];
  ASSERT_GE(front.size(), 2u) << summary.dump();
  // The front is the non-dominated set of the completed trials, sorted by f1.
  const auto trials = nlohmann::json::parse(run_lorafarm({"trials", "multi", "--db", db, "--json"}).out);
  ASSERT_EQ(trials.size(), 14u);
  for (std::size_t i = 0; i < front.size(); ++i) {
    const double f1 = front[i]["values"][0], f2 = front[i]["values"][1];
    if (i > 0) {
      EXPECT_GE(f1, front[i - 1]["values"][0].get<double>());
      EXPECT_LT(f2, front[i - 1]["values"][1].get<double>());  // else the earlier one would dominate it
    }
    for (const auto& t : trials) {
      const double x = t["params"]["x"], y = t["params"]["y"];
      const double g1 = x, g2 = (1 - x) * (1 - x) + y;
      EXPECT_FALSE(g1 <= f1 && g2 <= f2 && (g1 < f1 || g2 < f2)) << "trial " << t["trial"] << " dominates " << front[i];
    }
  }
  // With both objectives the sampler spreads along the front: after the
  // initial design (5 Sobol points in 2-D), suggestions hug y = 0 (it only
  // adds to f2) over a range of x.
  int near_front = 0;
  for (const auto& t : trials) {
    if (t["trial"].get<int>() >= 6 && t["params"]["y"].get<double>() < 0.2) ++near_front;
  }
  EXPECT_GE(near_front, 4) << trials.dump();
  // The text table and the report list the front too.
  const auto status = run_lorafarm({"status", "multi", "--db", db});
  EXPECT_NE(status.out.find("Pareto front"), std::string::npos) << status.out;
  const auto report = run_lorafarm({"report", "multi", "--db", db, "--format", "json"});
  ASSERT_EQ(report.exit_code, 0) << report.err;
  EXPECT_EQ(nlohmann::json::parse(report.out)["pareto_front"], front);
  const auto markdown = run_lorafarm({"report", "multi", "--db", db, "--format", "md"});
  EXPECT_NE(markdown.out.find("#### Pareto front"), std::string::npos) << markdown.out;
}

// f(x, y) = (x - 0.3)² + (y - 0.7)², computed by the trial process.
std::string quadratic_spec(const std::string& name, int trials, const std::string& search) {
  return R"spec({"name": ")spec" + name + R"spec(", "seed": 11,
    "objective": {"metric": "f", "direction": "minimize"},
    "budget": {"trials": )spec" + std::to_string(trials) + R"spec(},
    "search": )spec" + search + R"spec(,
    "search_space": {"x": {"type": "float", "low": 0, "high": 1}, "y": {"type": "float", "low": 0, "high": 1}},
    "trial": {"kind": "command", "timeout_seconds": 30,
              "command": ["python3", "-c", "import json,sys; x,y=float(sys.argv[1]),float(sys.argv[2]); print(json.dumps({'final': True, 'f': (x-0.3)**2 + (y-0.7)**2}))", "{x}", "{y}"]}
  })spec";
}

TEST(GpSweep, EnqueuedConfigurationsRunFirstAndAWarmStartSkipsTheInitialDesign) {
  ScratchDir dir;
  const auto db = (dir / "warm.db").string();
  // Yesterday's sweep, with two configurations the user wanted tried first.
  write_file(dir / "yesterday.json",
             quadratic_spec("yesterday", 12, R"({"algorithm": "gp", "enqueue": [{"x": 0.9, "y": 0.1}, {"x": 0.5, "y": 0.5}]})"));
  ASSERT_EQ(run_lorafarm({"sweep", (dir / "yesterday.json").string(), "--db", db, "--workers", "2"}).exit_code, 0);
  const auto yesterday = nlohmann::json::parse(run_lorafarm({"trials", "yesterday", "--db", db, "--json"}).out);
  ASSERT_EQ(yesterday.size(), 12u);
  EXPECT_EQ(yesterday[0]["params"], (nlohmann::json{{"x", 0.9}, {"y", 0.1}}));
  EXPECT_EQ(yesterday[1]["params"], (nlohmann::json{{"x", 0.5}, {"y", 0.5}}));

  // Today's sweep starts from yesterday's 12 trials: its very first suggestion
  // comes from the model, near the optimum (0.3, 0.7), not from a Sobol design.
  write_file(dir / "today.json", quadratic_spec("today", 3, R"({"algorithm": "gp", "warm_start": "yesterday"})"));
  const auto today_run = run_lorafarm({"sweep", (dir / "today.json").string(), "--db", db, "--workers", "1", "--log-level", "info"});
  ASSERT_EQ(today_run.exit_code, 0) << today_run.err;
  EXPECT_NE(today_run.err.find("warm start: 12 finished trial(s) of 'yesterday'"), std::string::npos) << today_run.err;
  const auto today = nlohmann::json::parse(run_lorafarm({"trials", "today", "--db", db, "--json"}).out);
  ASSERT_EQ(today.size(), 3u);
  double best_yesterday = 1e9;
  for (const auto& t : yesterday) best_yesterday = std::min(best_yesterday, t["objective"].get<double>());
  EXPECT_LT(today[0]["objective"].get<double>(), 4 * best_yesterday + 0.01) << today.dump() << " vs " << best_yesterday;

  // Without the warm start, the same spec's first trial is a design point.
  write_file(dir / "cold.json", quadratic_spec("cold", 1, R"({"algorithm": "gp"})"));
  ASSERT_EQ(run_lorafarm({"sweep", (dir / "cold.json").string(), "--db", db, "--workers", "1"}).exit_code, 0);
  const auto cold = nlohmann::json::parse(run_lorafarm({"trials", "cold", "--db", db, "--json"}).out);
  EXPECT_NE(cold[0]["params"], today[0]["params"]);

  // A warm start from an experiment the database does not hold is one clear error.
  write_file(dir / "typo.json", quadratic_spec("typo", 2, R"({"algorithm": "gp", "warm_start": "yesterdy"})"));
  const auto typo = run_lorafarm({"sweep", (dir / "typo.json").string(), "--db", db, "--workers", "1"});
  EXPECT_EQ(typo.exit_code, 1);
  EXPECT_NE(typo.err.find("search.warm_start: there is no experiment 'yesterdy'"), std::string::npos) << typo.err;
}

}  // namespace
}  // namespace lorafarm::testing
