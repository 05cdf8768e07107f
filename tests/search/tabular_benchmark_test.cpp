// The tabular benchmark's lookup (exact entries, the nearest-configuration rule
// on a hand-built table, its errors) and the mixed synthetic function.
#include "search/tabular_benchmark.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "search/random_sampler.h"
#include "search/test_functions.h"

namespace lorafarm::search {
namespace {

// method ∈ {lora, full}; rank (int 1..7, linear: unit = (r - 0.5)/7) only for
// lora; lr (float 0..1, unit = lr) always.
SearchSpace small_space() {
  return SearchSpace::from_json(nlohmann::json::parse(R"({
    "method": {"type": "categorical", "values": ["lora", "full"]},
    "rank": {"type": "int", "low": 1, "high": 7, "condition": {"param": "method", "in": ["lora"]}},
    "lr": {"type": "float", "low": 0.0, "high": 1.0}})"));
}

TabularBenchmark small_table() {
  std::vector<TabularEntry> entries = {
      {{{"method", "lora"}, {"rank", 1}, {"lr", 0.1}}, 5.0, {}},
      {{{"method", "lora"}, {"rank", 7}, {"lr", 0.1}}, 4.0, {{6, 4.5}, {12, 4.0}}},
      {{{"method", "lora"}, {"rank", 4}, {"lr", 0.9}}, 3.0, {}},
      {{{"method", "full"}, {"lr", 0.5}}, 2.0, {}},
  };
  return TabularBenchmark(small_space(), std::move(entries));
}

TEST(TabularBenchmark, AStoredConfigurationReturnsItsStoredValue) {
  const TabularBenchmark t = small_table();
  for (const auto& e : t.entries()) EXPECT_EQ(t.lookup(e.params).value, e.value) << e.params.dump();
  EXPECT_EQ(t.minimum(), 2.0);
  EXPECT_EQ(t.entries()[1].curve.size(), 2u);
}

TEST(TabularBenchmark, NearestRuleOnAHandBuiltTable) {
  const TabularBenchmark t = small_table();
  // A full configuration far in lr from the only full entry still gets it: the
  // method must match before any numeric distance counts.
  EXPECT_EQ(t.nearest({{"method", "full"}, {"lr", 0.0}}), 3u);
  // rank 3, lr 0.1: unit rank 2.5/7 = 0.357 is 0.286 from rank 1 (0.071) and
  // 0.143 from rank 4 (0.5), which is 0.8 away in lr: d² 0.082 vs 0.660 → entry 0.
  EXPECT_EQ(t.nearest({{"method", "lora"}, {"rank", 3}, {"lr", 0.1}}), 0u);
  // rank 4, lr 0.5: d² to entry 2 is 0.16; to entry 0 (0.429² + 0.4²) 0.344 → entry 2.
  EXPECT_EQ(t.nearest({{"method", "lora"}, {"rank", 4}, {"lr", 0.5}}), 2u);
  // rank 6, lr 0.3: entry 1 (1/7)² + 0.04 = 0.060 beats entry 2 (2/7)² + 0.36 → entry 1.
  EXPECT_EQ(t.nearest({{"method", "lora"}, {"rank", 6}, {"lr", 0.3}}), 1u);
  // Equidistant between ranks 1 and 7 at the same lr: the earlier entry.
  EXPECT_EQ(t.nearest({{"method", "lora"}, {"rank", 4}, {"lr", 0.1}}), 0u);
}

TEST(TabularBenchmark, AnEntryOutsideTheSpaceIsAnErrorNamingIt) {
  std::vector<TabularEntry> entries = {{{{"method", "full"}, {"lr", 0.5}}, 1.0, {}},
                                       {{{"method", "full"}, {"rank", 2}, {"lr", 0.5}}, 1.0, {}}};
  try {
    TabularBenchmark(small_space(), std::move(entries));
    FAIL() << "expected InvalidSpace";
  } catch (const InvalidSpace& e) {
    EXPECT_NE(std::string(e.what()).find("entry 1"), std::string::npos) << e.what();
  }
  EXPECT_THROW(TabularBenchmark::load("/nonexistent/table.json"), std::runtime_error);
}

TEST(TabularBenchmark, ReadsTheExportFormat) {
  const auto json = nlohmann::json::parse(R"({
    "search_space": {"lr": {"type": "float", "low": 0.0, "high": 1.0}},
    "trials": [{"params": {"lr": 0.2}, "val_loss": 3.5, "curve": [[6, 3.9], [12, 3.5]]},
               {"params": {"lr": 0.8}, "val_loss": 4.5, "curve": []}]})");
  const TabularBenchmark t = TabularBenchmark::from_json(json);
  EXPECT_EQ(t.lookup({{"lr", 0.45}}).value, 3.5);
  EXPECT_EQ(t.lookup({{"lr", 0.55}}).value, 4.5);
  ASSERT_EQ(t.entries()[0].curve.size(), 2u);
  EXPECT_EQ(t.entries()[0].curve[0].step, 6);
  EXPECT_EQ(t.entries()[0].curve[0].value, 3.9);
}

TEST(MixedTestFunction, HandComputedValuesAndTheOptimum) {
  const MixedTestFunction m = mixed_lora_like();
  EXPECT_NEAR(m.f(m.argmin), 0.0, 1e-12);
  EXPECT_EQ(m.minimum, 0.0);
  // Kind a at its own optimum: only its offset 0.35 remains.
  EXPECT_NEAR(m.f({{"kind", "a"}, {"width", 32}, {"layers", 4}, {"lr", std::pow(10.0, -2.5)}, {"mix", 0.3}}), 0.35,
              1e-12);
  // Kind b, lr 1e-3 (0.2 decades high): 0.6 · 0.2² = 0.024.
  EXPECT_NEAR(m.f({{"kind", "b"}, {"width", 8}, {"layers", 6}, {"lr", 1e-3}, {"mix", 0.3}}), 0.024, 1e-12);
  // Kind b, width 16 (one octave up: the best lr falls 0.25 decades), 5 layers, mix 0.8:
  // 0.6 · 0.25² + 0.06 + 0.04 + (0.25 · (1 - cos 2π) + 0.3 · 0.25) = 0.0375 + 0.1 + 0.075.
  EXPECT_NEAR(m.f({{"kind", "b"}, {"width", 16}, {"layers", 5}, {"lr", std::pow(10.0, -3.2)}, {"mix", 0.8}}),
              0.2125, 1e-12);
  RandomSampler sampler(m.space, 3);
  for (const auto& p : sampler.suggest(500, {})) EXPECT_GE(m.f(p), m.minimum) << p.dump();
}

}  // namespace
}  // namespace lorafarm::search
