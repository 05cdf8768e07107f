// Acceptance (issue 18, DPO): on the bundled preference set
// (examples/data/fortunes-dpo), 200 LoRA iterations raise the validation
// reward accuracy from 0.5 (the untrained policy is its own reference: every
// reward 0, a tie counts half) to at least 0.9, and the reward margin grows.
// Run as a real `lorafarm train --train-mode dpo` process, at full size.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <sstream>

#include "test_support.h"

namespace lorafarm::testing {
namespace {

using nlohmann::json;

// The evaluation lines (those with val_reward_accuracy) of `train --json`, by step.
std::vector<json> evaluations(const std::string& out) {
  std::vector<json> lines;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    json j = json::parse(line);
    if (j.contains("step") && j.contains("val_reward_accuracy")) lines.push_back(std::move(j));
  }
  return lines;
}

TEST(AcceptanceDpo, TwoHundredIterationsRaiseRewardAccuracyFromOneHalfToNinetyPercent) {
  ScratchDir dir;
  const auto r = run_lorafarm({"train", "--model", bundled_model().string(), "--data", bundled_data("fortunes-dpo").string(),
                               "--train-mode", "dpo", "--beta", "0.1", "--fine-tune-type", "lora", "--rank", "8",
                               "--iters", "200", "--batch-size", "8", "--learning-rate", "1e-4", "--steps-per-eval", "50",
                               "--steps-per-report", "50", "--val-batches", "-1", "--save-every", "0", "--threads", "1",
                               "--seed", "0", "--adapter-path", (dir / "adapter").string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto evals = evaluations(r.out);
  ASSERT_EQ(evals.size(), 5u) << r.out;  // steps 0, 50, 100, 150 and the final 200
  EXPECT_EQ(evals.front()["step"], 0);
  EXPECT_EQ(evals.front()["val_reward_accuracy"], 0.5);
  EXPECT_EQ(evals.front()["val_reward_margin"], 0.0);
  EXPECT_NEAR(evals.front()["val_dpo_loss"].get<double>(), std::log(2.0), 1e-9);
  const json& last = evals.back();
  EXPECT_EQ(last["step"], 200);
  EXPECT_GE(last["val_reward_accuracy"].get<double>(), 0.9) << last.dump();
  EXPECT_GT(last["val_reward_margin"].get<double>(), evals[1]["val_reward_margin"].get<double>()) << r.out;
  EXPECT_GT(evals[1]["val_reward_margin"].get<double>(), 0.0);
  for (const json& e : evals) {
    std::printf("step %3d: reward accuracy %.3f, margin %.3f, logps chosen %.1f, rejected %.1f, DPO loss %.4f\n",
                e["step"].get<int>(), e["val_reward_accuracy"].get<double>(), e["val_reward_margin"].get<double>(),
                e["val_logps_chosen"].get<double>(), e["val_logps_rejected"].get<double>(), e["val_dpo_loss"].get<double>());
  }
}

}  // namespace
}  // namespace lorafarm::testing
