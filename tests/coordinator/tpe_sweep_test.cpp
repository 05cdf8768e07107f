// A sweep driven by the TPE sampler ("algorithm": "tpe") end to end: a real
// worker process, command trials computing f(x, y) = (x - 0.3)² + (y - 0.7)².
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <algorithm>
#include <set>

#include "search/random_sampler.h"
#include "test_support.h"

namespace lorafarm::testing {
namespace {

double quadratic(const nlohmann::json& p) {
  const double x = p["x"], y = p["y"];
  return (x - 0.3) * (x - 0.3) + (y - 0.7) * (y - 0.7);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return 0.5 * (v[(v.size() - 1) / 2] + v[v.size() / 2]);
}

// The first 5 trials are the random sampler's points (the sweep's sampler seed
// is derived from the spec's, as coordinator/sampler_factory.cpp does); from
// then on the model proposes, and its last 10 trials are better than the
// random sampler's next 10 points would have been.
TEST(TpeSweep, RandomStartThenModelProposals) {
  ScratchDir dir;
  write_file(dir / "tpe.json", R"spec({"name": "tpe", "seed": 11,
    "objective": {"metric": "f", "direction": "minimize"},
    "budget": {"trials": 20},
    "search": {"algorithm": "tpe", "initial_trials": 5},
    "search_space": {"x": {"type": "float", "low": 0, "high": 1}, "y": {"type": "float", "low": 0, "high": 1}},
    "trial": {"kind": "command", "timeout_seconds": 30,
              "command": ["python3", "-c", "import json,sys; x,y=float(sys.argv[1]),float(sys.argv[2]); print(json.dumps({'final': True, 'f': (x-0.3)**2 + (y-0.7)**2}))", "{x}", "{y}"]}
  })spec");
  const auto db = (dir / "tpe.db").string();
  const auto r = run_lorafarm({"sweep", (dir / "tpe.json").string(), "--db", db, "--workers", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto trials = nlohmann::json::parse(run_lorafarm({"trials", "tpe", "--db", db, "--json"}).out);
  ASSERT_EQ(trials.size(), 20u);
  const auto space = search::SearchSpace::from_json(nlohmann::json::parse(
      R"({"x": {"type": "float", "low": 0, "high": 1}, "y": {"type": "float", "low": 0, "high": 1}})"));
  const search::RandomSampler random(space, search::mix_seed(11, 0x5a3b1e5ull));
  std::set<std::string> distinct;
  std::vector<double> model, uniform;
  for (const auto& t : trials) {
    ASSERT_EQ(t["status"], "COMPLETED") << t.dump();
    distinct.insert(t["params"].dump());
    const int number = t["trial"].get<int>();
    const auto uniform_point = random.point(static_cast<std::uint64_t>(number));
    EXPECT_EQ(number < 5, t["params"] == uniform_point) << "trial " << number;
    EXPECT_DOUBLE_EQ(t["objective"].get<double>(), quadratic(t["params"]));
    if (number >= 10) {
      model.push_back(quadratic(t["params"]));
      uniform.push_back(quadratic(uniform_point));
    }
  }
  EXPECT_EQ(distinct.size(), 20u);
  EXPECT_LT(median(model), median(uniform)) << trials.dump();
}

}  // namespace
}  // namespace lorafarm::testing
