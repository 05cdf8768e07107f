// GpSampler on a mixed, conditional LoRA-like space through the Sampler
// interface: every suggestion is valid and never sets an inactive parameter,
// with parallel (running) trials, failures, infeasible runs, enqueued points,
// warm starts and two objectives.
#include "search/gp_sampler.h"

#include <gtest/gtest.h>

#include <cmath>

namespace lorafarm::search {
namespace {

SearchSpace lora_space() {
  return SearchSpace::from_json(nlohmann::json::parse(R"({
    "method": {"type": "categorical", "values": ["full", "lora", "dora", "qlora"]},
    "rank": {"type": "int", "low": 1, "high": 64, "log": true,
             "condition": {"param": "method", "not_in": ["full"]}},
    "learning_rate": {"type": "float", "low": 1e-5, "high": 1e-2, "log": true},
    "dropout": {"type": "float", "low": 0.0, "high": 0.3},
    "num_layers": {"type": "int", "low": 1, "high": 8}
  })"));
}

// A made-up validation loss: best around lr 1e-3, rank 16, little dropout;
// "full" is good but runs out of memory when num_layers > 6.
double fake_loss(const Params& p) {
  double loss = 2.0 + std::pow(std::log10(p["learning_rate"].get<double>()) + 3.0, 2) + p["dropout"].get<double>();
  if (p.contains("rank")) loss += 0.1 * std::pow(std::log2(p["rank"].get<double>()) - 4.0, 2) / 4.0;
  if (p["method"] == "dora") loss -= 0.1;
  return loss - 0.05 * p["num_layers"].get<double>();
}

bool out_of_memory(const Params& p) { return p["method"] == "full" && p["num_layers"].get<int>() > 6; }

void check_valid(const SearchSpace& space, const Params& p) {
  EXPECT_NO_THROW(space.validate(p)) << p.dump();
  if (p["method"] == "full") {
    EXPECT_FALSE(p.contains("rank")) << "inactive rank set: " << p.dump();
  } else {
    EXPECT_TRUE(p.contains("rank")) << p.dump();
  }
}

TEST(GpSampler, ConditionalMixedSpaceWithParallelTrialsFailuresAndInfeasibleRuns) {
  const SearchSpace space = lora_space();
  GpSampler sampler(space, 7);
  std::vector<Observation> history;
  int running_from = 0;
  const auto ask = [&](int n) {
    for (const auto& p : sampler.suggest(n, history)) {
      check_valid(space, p);
      Observation o;
      o.trial_number = static_cast<std::int64_t>(history.size());
      o.params = p;
      history.push_back(o);
    }
  };
  ask(3);  // three workers
  while (history.size() < 36) {
    Observation& o = history[running_from++];
    if (o.trial_number % 11 == 5) {
      o.status = ObservationStatus::Failed;  // a crash with no result
    } else if (out_of_memory(o.params)) {
      o.status = ObservationStatus::Infeasible;
      o.constraints = {1.0};
    } else {
      o.status = ObservationStatus::Completed;
      o.objectives = {fake_loss(o.params)};
      o.constraints = {-1.0};
    }
    sampler.tell(o);
    ask(1);
  }
  // The model-based half found a good configuration (random search rarely gets below 2.0 in 36 trials).
  double best = std::numeric_limits<double>::infinity();
  for (const auto& o : history)
    if (o.status == ObservationStatus::Completed) best = std::min(best, o.objectives.front());
  EXPECT_LT(best, 1.95);
}

TEST(GpSampler, EncodingRoundTripsAndMarksInactiveCoordinates) {
  const SearchSpace space = lora_space();
  const GpSampler sampler(space, 1);
  EXPECT_EQ(sampler.model_dimensions(), 4 + 1 + 1 + 1 + 1);  // one-hot method
  const Params full = {{"method", "full"}, {"learning_rate", 1e-3}, {"dropout", 0.1}, {"num_layers", 3}};
  const Eigen::VectorXd x = sampler.to_model(full);
  // Parameters are ordered by depth, then name: dropout, learning_rate, method (one-hot), num_layers, rank.
  EXPECT_NEAR(x(0), 0.1 / 0.3, 1e-12);
  EXPECT_NEAR(x(1), 2.0 / 3.0, 1e-12);  // log10 1e-3 between -5 and -2
  EXPECT_EQ(Eigen::Vector4d(x.segment(2, 4)), Eigen::Vector4d(1, 0, 0, 0));
  EXPECT_EQ(x(7), kInactiveCoordinate);
  EXPECT_EQ((x.array() == kInactiveCoordinate).count(), 1);
  const Params back = sampler.from_model(x);
  EXPECT_EQ(back["method"], "full");
  EXPECT_FALSE(back.contains("rank"));
  EXPECT_NEAR(back["learning_rate"].get<double>(), 1e-3, 1e-9);
  // Canonicalising an arbitrary point gives a valid configuration.
  Eigen::VectorXd any = Eigen::VectorXd::Constant(sampler.model_dimensions(), 0.37);
  any(4) = 0.9;  // "dora" wins the argmax
  sampler.canonicalize(any);
  const Params p = sampler.from_model(any);
  EXPECT_EQ(p["method"], "dora");
  EXPECT_TRUE(p.contains("rank"));
  EXPECT_NO_THROW(space.validate(p));
}

TEST(GpSampler, EnqueuedPointsComeFirstAndWarmStartIsModelled) {
  const SearchSpace space = lora_space();
  GpSampler sampler(space, 3);
  const Params first = {{"method", "lora"}, {"rank", 8}, {"learning_rate", 2e-4}, {"dropout", 0.0}, {"num_layers", 2}};
  sampler.enqueue(first);
  EXPECT_THROW(sampler.enqueue(Params{{"method", "full"}, {"rank", 8}}), InvalidSpace);
  const auto batch = sampler.suggest(2, {});
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(batch[0], first);
  // Once trial 0 holds it, it is not suggested again.
  Observation o;
  o.params = first;
  const auto next = sampler.suggest(1, std::span<const Observation>(&o, 1));
  EXPECT_NE(next[0], first);

  // A warm start past the initial design: the first suggestion is model-based.
  GpSampler warm(space, 4);
  std::vector<Observation> previous;
  GpSampler source(space, 5);
  for (int i = 0; i < 12; ++i) {
    for (auto& p : source.suggest(1, previous)) {
      Observation w;
      w.params = p;
      w.status = ObservationStatus::Completed;
      w.objectives = {fake_loss(p)};
      previous.push_back(w);
    }
  }
  warm.warm_start(previous);
  const auto s = warm.suggest(1, {});
  check_valid(space, s[0]);
}

TEST(GpSampler, TwoObjectivesUseParegoAndStayValid) {
  const SearchSpace space = lora_space();
  GpSampler sampler(space, 9);
  std::vector<Observation> history;
  for (int i = 0; i < 20; ++i) {
    for (const auto& p : sampler.suggest(i < 12 ? 1 : 2, history)) {
      check_valid(space, p);
      Observation o;
      o.trial_number = static_cast<std::int64_t>(history.size());
      o.params = p;
      o.status = ObservationStatus::Completed;
      const double memory = p["method"] == "full" ? 10.0 : p["rank"].get<double>() / 8.0;
      o.objectives = {fake_loss(p), memory};
      history.push_back(o);
    }
  }
  EXPECT_GE(history.size(), 20u);
}

}  // namespace
}  // namespace lorafarm::search
