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

}  // namespace
}  // namespace lorafarm::testing
