// Search spaces and the baseline samplers (random, Sobol, grid).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "search/enqueued_sampler.h"
#include "search/grid_sampler.h"
#include "search/random_sampler.h"
#include "search/search_space.h"
#include "search/sobol_sampler.h"

namespace lorafarm::search {
namespace {

SearchSpace method_space() {
  return SearchSpace::from_json(nlohmann::json::parse(R"({
    "method": {"type": "categorical", "values": ["lora", "dora", "full"]},
    "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "log": true, "grid_points": 3},
    "rank": {"type": "int", "low": 2, "high": 16, "log": true, "grid_points": 4, "condition": {"param": "method", "not_in": ["full"]}}
  })"));
}

TEST(SearchSpace, OrdersParentsFirstAndEncodesActivity) {
  const auto space = method_space();
  ASSERT_EQ(space.dimensions(), 3u);
  EXPECT_EQ(space.parameters()[2].name, "rank");  // child after its parent
  const auto e = space.encode({{"method", "full"}, {"learning_rate", 1e-3}});
  EXPECT_FALSE(e.active[*space.index_of("rank")]);
  EXPECT_NEAR(e.x[*space.index_of("learning_rate")], 0.5, 1e-12);  // log midpoint
  EXPECT_NEAR(e.x[*space.index_of("method")], 2.5 / 3, 1e-12);
}

TEST(SearchSpace, DecodeInvertsEncodeAndDropsInactiveParameters) {
  const auto space = method_space();
  const Params p{{"method", "dora"}, {"learning_rate", 0.002}, {"rank", 8}};
  const auto e = space.encode(p);
  const auto back = space.decode(e.x);
  EXPECT_EQ(back["method"], "dora");
  EXPECT_EQ(back["rank"], 8);
  EXPECT_NEAR(back["learning_rate"].get<double>(), 0.002, 1e-12);
  std::vector<double> u(space.dimensions(), 0.99);  // method -> full
  const auto full = space.decode(u);
  EXPECT_EQ(full["method"], "full");
  EXPECT_FALSE(full.contains("rank"));
  space.validate(full);
  space.validate(back);
  EXPECT_THROW(space.validate({{"method", "full"}, {"learning_rate", 0.001}, {"rank", 4}}), InvalidSpace);
  EXPECT_THROW(space.validate({{"method", "lora"}, {"learning_rate", 0.001}}), InvalidSpace);
  EXPECT_THROW(space.validate({{"method", "lora"}, {"learning_rate", 0.5}, {"rank", 4}}), InvalidSpace);
}

TEST(SearchSpace, IntegersGetEqualShares) {
  Parameter p{"n", ParamType::Int, 1, 4};
  std::vector<int> hits(5, 0);
  for (int i = 0; i < 4000; ++i) ++hits[p.from_unit((i + 0.5) / 4000).get<int>()];
  for (int v = 1; v <= 4; ++v) EXPECT_EQ(hits[v], 1000);
}

TEST(SobolSequence, MatchesTheFirstPointsOfTheStandardSequence) {
  SobolSequence s(3);
  // Direct-index Sobol points for i = 0..4: dimension 1 is van der Corput
  // (v = 1/2, 1/4, ...); dimension 2 has m = 1, 3, 5 (v = 1/2, 3/4, 5/8);
  // dimension 3 has m = 1, 3 (v = 1/2, 3/4).
  EXPECT_EQ(s.point(0), (std::vector<double>{0, 0, 0}));
  EXPECT_EQ(s.point(1), (std::vector<double>{0.5, 0.5, 0.5}));
  EXPECT_EQ(s.point(2), (std::vector<double>{0.25, 0.75, 0.75}));
  EXPECT_EQ(s.point(3), (std::vector<double>{0.75, 0.25, 0.25}));
  EXPECT_EQ(s.point(4)[0], 0.125);
}

TEST(SobolSequence, EveryDimensionIsStratifiedInEachBlockOfPowerOfTwoPoints) {
  SobolSequence s(SobolSequence::kMaxDimensions);
  const int n = 256;
  for (std::size_t d = 0; d < SobolSequence::kMaxDimensions; ++d) {
    std::set<int> cells;
    for (int i = 0; i < n; ++i) cells.insert(static_cast<int>(s.point(static_cast<std::uint64_t>(i))[d] * n));
    EXPECT_EQ(cells.size(), static_cast<std::size_t>(n)) << "dimension " << d;
  }
  // Two-dimensional (0, m, 2)-net property of dimensions 1 and 2: 4x4 boxes of 16 points.
  std::vector<int> boxes(16, 0);
  for (int i = 0; i < 16; ++i) {
    const auto p = s.point(static_cast<std::uint64_t>(i));
    ++boxes[static_cast<int>(p[0] * 4) * 4 + static_cast<int>(p[1] * 4)];
  }
  for (int b : boxes) EXPECT_EQ(b, 1);
  EXPECT_THROW(SobolSequence(SobolSequence::kMaxDimensions + 1), std::invalid_argument);
}

TEST(Samplers, AreDeterministicGivenSeedAndHistory) {
  const auto space = method_space();
  RandomSampler r1(space, 1), r2(space, 1), r3(space, 2);
  std::vector<Observation> history(5);
  EXPECT_EQ(r1.suggest(3, history), r2.suggest(3, history));
  EXPECT_NE(r1.suggest(3, history), r3.suggest(3, history));
  // Asking 4 at once equals asking 2 and then 2 more.
  SobolSampler s(space, 9);
  const auto four = s.suggest(4, {});
  auto two = s.suggest(2, {});
  std::vector<Observation> after_two(2);
  const auto next = s.suggest(2, after_two);
  two.insert(two.end(), next.begin(), next.end());
  EXPECT_EQ(four, two);
  for (const auto& p : four) space.validate(p);
}

TEST(GridSampler, EnumeratesConditionalSpacesWithoutDuplicatesAndThenStops) {
  const auto space = method_space();
  GridSampler g(space, 3);
  // lora, dora: 3 lr x 4 ranks each; full: 3 lr.
  EXPECT_EQ(g.points().size(), 2u * 3 * 4 + 3);
  std::set<std::string> unique;
  for (const auto& p : g.points()) {
    space.validate(p);
    unique.insert(p.dump());
  }
  EXPECT_EQ(unique.size(), g.points().size());
  std::vector<Observation> history(g.points().size() - 2);
  EXPECT_EQ(g.suggest(5, history).size(), 2u);
  history.resize(g.points().size());
  EXPECT_TRUE(g.suggest(5, history).empty());
}

// Records what the wrapped sampler was asked.
class RecordingSampler : public Sampler {
 public:
  std::vector<Params> suggest(int n, std::span<const Observation> history) override {
    asked.push_back(std::vector<Observation>(history.begin(), history.end()));
    std::vector<Params> out;
    for (int i = 0; i < n; ++i) out.push_back({{"method", "full"}, {"learning_rate", 1e-3}});
    return out;
  }
  std::string name() const override { return "recording"; }
  std::vector<std::vector<Observation>> asked;
};

TEST(EnqueuedFirst, HandsOutTheEnqueuedInOrderOnceThenAsksTheSamplerWithThemPending) {
  const Params a{{"method", "lora"}, {"learning_rate", 1e-4}, {"rank", 2}};
  const Params b{{"method", "dora"}, {"learning_rate", 1e-2}, {"rank", 16}};
  const Params c{{"method", "lora"}, {"learning_rate", 2e-3}, {"rank", 4}};
  auto inner = std::make_unique<RecordingSampler>();
  RecordingSampler& recording = *inner;
  EnqueuedFirst sampler(std::move(inner), {a, b, c});
  EXPECT_EQ(sampler.name(), "recording");
  // Trial 0 already ran configuration b (a resumed sweep): it is not handed out again.
  std::vector<Observation> history = {{0, b, ObservationStatus::Completed, {1.0}, {}, {}}};
  const auto first = sampler.suggest(1, history);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0], a);
  EXPECT_TRUE(recording.asked.empty());  // nothing was left to ask for
  history.push_back({1, a, ObservationStatus::Running, {}, {}, {}});
  const auto next = sampler.suggest(3, history);
  ASSERT_EQ(next.size(), 3u);
  EXPECT_EQ(next[0], c);
  // The wrapped sampler filled the other two, seeing c as a running trial.
  ASSERT_EQ(recording.asked.size(), 1u);
  ASSERT_EQ(recording.asked[0].size(), 3u);
  EXPECT_EQ(recording.asked[0][2].params, c);
  EXPECT_EQ(recording.asked[0][2].status, ObservationStatus::Running);
  history.push_back({2, c, ObservationStatus::Running, {}, {}, {}});
  EXPECT_EQ(sampler.suggest(1, history).size(), 1u);
  EXPECT_EQ(recording.asked.size(), 2u);  // the queue is spent: straight to the sampler
}

}  // namespace
}  // namespace lorafarm::search
