// Flat sweep parameters land at the nested places the training config wants.
#include "worker/engine_trial_config.h"

#include <gtest/gtest.h>

namespace lorafarm::worker {
namespace {

using nlohmann::json;

TEST(EngineTrialConfig, MapsFlatParametersIntoNestedOptions) {
  const json fixed = {{"iters", 100}, {"lora_parameters", {{"scale", 20.0}, {"dropout", 0.0}}},
                      {"quantization", {{"bits", 4}, {"group_size", 64}}}};
  const json params = {{"method", "qlora"}, {"rank", 8}, {"learning_rate", 1e-3}, {"quant_mode", "nf4"}};
  const json config = engine_trial_config(fixed, params);
  EXPECT_EQ(config["fine_tune_type"], "qlora");
  EXPECT_EQ(config["lora_parameters"]["rank"], 8);
  EXPECT_EQ(config["lora_parameters"]["scale"], 20.0);  // kept from fixed
  EXPECT_EQ(config["quantization"]["mode"], "nf4");
  EXPECT_EQ(config["quantization"]["bits"], 4);
  EXPECT_EQ(config["learning_rate"], 1e-3);
  EXPECT_EQ(config["iters"], 100);
}

TEST(EngineTrialConfig, FixedSettingsMayUseTheFlatNamesToo) {
  const json fixed = {{"method", "lora"}, {"rank", 16}, {"dynamic_rank", true}, {"lora_parameters", {{"scale", 10.0}}}};
  const json config = engine_trial_config(fixed, {{"scale", 5.0}});
  EXPECT_EQ(config["fine_tune_type"], "lora");
  EXPECT_FALSE(config.contains("method"));
  EXPECT_EQ(config["lora_parameters"], (json{{"rank", 16}, {"dynamic_rank", true}, {"scale", 5.0}}));
}

TEST(EngineTrialConfig, QuantizationOnlyForQlora) {
  const json fixed = {{"quantization", {{"bits", 4}}}};
  EXPECT_FALSE(engine_trial_config(fixed, {{"method", "lora"}}).contains("quantization"));
  EXPECT_FALSE(engine_trial_config(fixed, {{"method", "full"}}).contains("quantization"));
}

}  // namespace
}  // namespace lorafarm::worker
