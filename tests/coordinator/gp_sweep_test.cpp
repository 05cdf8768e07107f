// A sweep driven by the GP sampler end to end: real workers, command trials.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
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

}  // namespace
}  // namespace lorafarm::testing
