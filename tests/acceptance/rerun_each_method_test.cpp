// Acceptance: `lorafarm rerun` reproduces an engine trial of each method
// (LoRA, QLoRA-4bit, DoRA, full) bit for bit from the database alone. The
// oracle is the sweep's own recorded numbers, compared by the CLI and here.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <bit>
#include <cstdint>
#include <set>

#include "acceptance/sqlite_reader.h"
#include "test_support.h"

namespace lorafarm::testing {
namespace {

using nlohmann::json;

// The quick-start sweep cut to one short trial per method (rank 4, lr 1e-3).
json one_trial_per_method() {
  auto spec = json::parse(read_file(source_dir() / "examples/quickstart.json"), nullptr, true, true);
  spec["name"] = "rerun-methods";
  spec["model"] = bundled_model().string();
  spec["data"] = bundled_data("fortunes").string();
  spec["budget"]["trials"] = 4;
  spec["search_space"]["learning_rate"]["values"] = {0.001};
  spec["search_space"]["rank"]["values"] = {4};
  spec["fixed"]["iters"] = 12;
  spec["fixed"]["steps_per_report"] = 4;
  spec["fixed"]["steps_per_eval"] = 6;
  spec["fixed"]["val_batches"] = 2;
  spec["fixed"]["test_batches"] = 2;
  return spec;
}

// Re-runs `trial` and checks the CLI's verdict and every number it compared.
void expect_rerun_identical(const std::string& db, const std::string& trial, const std::string& method) {
  SCOPED_TRACE("trial " + trial + " (" + method + ")");
  const auto r = run_lorafarm({"rerun", "rerun-methods", trial, "--db", db, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const auto report = json::parse(r.out);
  EXPECT_EQ(report["params"]["method"], method);
  EXPECT_EQ(report["reproduced"], true) << report.dump(2);
  std::set<std::string> compared;
  for (const auto& c : report["comparison"]) {
    compared.insert(c["metric"].get<std::string>());
    ASSERT_TRUE(c["rerun"].is_number()) << c.dump();
    // Bit for bit, checked here too rather than only trusting the CLI's verdict.
    EXPECT_EQ(std::bit_cast<std::uint64_t>(c["recorded"].get<double>()), std::bit_cast<std::uint64_t>(c["rerun"].get<double>()))
        << c.dump();
    EXPECT_TRUE(c["identical"].get<bool>()) << c.dump();
  }
  for (const char* metric : {"val_loss", "val_ppl", "test_loss", "test_ppl", "trainable_params", "trained_tokens"})
    EXPECT_TRUE(compared.count(metric)) << metric << " was not compared: " << report.dump(2);
}

TEST(AcceptanceRerun, OneTrialOfEachMethodReproducesBitForBit) {
  ScratchDir dir;
  write_file(dir / "spec.json", one_trial_per_method().dump(2));
  const auto db = (dir / "sweep.db").string();
  const auto sweep = run_lorafarm({"sweep", (dir / "spec.json").string(), "--db", db, "--workers", "2"});
  ASSERT_EQ(sweep.exit_code, 0) << sweep.err;

  const SqliteReader reader(db);
  const auto trials = reader.rows(
      "SELECT number, json_extract(params_json, '$.method'), status FROM trials ORDER BY number");
  ASSERT_EQ(trials.size(), 4u);
  std::set<std::string> methods;
  for (const auto& row : trials) {
    EXPECT_EQ(row[2], "COMPLETED") << "trial " << row[0];
    methods.insert(row[1]);
    expect_rerun_identical(db, row[0], row[1]);
  }
  EXPECT_EQ(methods, (std::set<std::string>{"lora", "qlora", "dora", "full"}));
}

}  // namespace
}  // namespace lorafarm::testing
