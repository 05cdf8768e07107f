// config.json parsing: the four architectures and clear errors.
#include "engine/model_config.h"

#include <gtest/gtest.h>

#include "engine/error.h"

namespace lorafarm::engine {
namespace {

using nlohmann::json;

json llama() {
  return json::parse(R"({"model_type":"llama","hidden_size":64,"intermediate_size":172,"num_hidden_layers":5,
    "num_attention_heads":8,"num_key_value_heads":4,"vocab_size":512,"max_position_embeddings":512,
    "rms_norm_eps":1e-5,"rope_theta":10000.0,"tie_word_embeddings":true})");
}

std::string error_of(const json& j) {
  try {
    ModelConfig::from_json(j);
  } catch (const InvalidInput& e) {
    return e.what();
  }
  return "";
}

TEST(ModelConfig, ReadsLlama) {
  const ModelConfig c = ModelConfig::from_json(llama());
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.num_kv_heads, 4);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_FALSE(c.attention_bias);
  EXPECT_EQ(c.parameter_count(), 260032);  // stories260K's README
}

TEST(ModelConfig, ArchitectureSwitches) {
  json j = llama();
  j["model_type"] = "qwen2";
  EXPECT_TRUE(ModelConfig::from_json(j).attention_bias);
  j["model_type"] = "mistral";
  j["sliding_window"] = 128;
  EXPECT_EQ(ModelConfig::from_json(j).sliding_window, 128);
  j["model_type"] = "phi3";
  const ModelConfig phi = ModelConfig::from_json(j);
  EXPECT_TRUE(phi.fused_qkv);
  EXPECT_TRUE(phi.fused_gate_up);
}

TEST(ModelConfig, RopeScaling) {
  json j = llama();
  j["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
  EXPECT_EQ(ModelConfig::from_json(j).rope_scaling.type, RopeScaling::Type::kLinear);
  j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                       {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8192}};
  EXPECT_EQ(ModelConfig::from_json(j).rope_scaling.type, RopeScaling::Type::kLlama3);
  j["rope_scaling"] = {{"type", "yarn"}, {"factor", 4.0}};
  EXPECT_NE(error_of(j).find("rope_scaling.type' is 'yarn'"), std::string::npos) << error_of(j);
}

TEST(ModelConfig, MissingFieldIsNamed) {
  json j = llama();
  j.erase("hidden_size");
  EXPECT_NE(error_of(j).find("missing required field 'hidden_size'"), std::string::npos) << error_of(j);
}

TEST(ModelConfig, UnsupportedModelTypeIsNamed) {
  json j = llama();
  j["model_type"] = "gpt2";
  EXPECT_NE(error_of(j).find("'model_type' is 'gpt2'"), std::string::npos) << error_of(j);
}

TEST(ModelConfig, WrongTypesAreNamed) {
  json j = llama();
  j["num_hidden_layers"] = "five";
  EXPECT_NE(error_of(j).find("'num_hidden_layers' must be a positive integer"), std::string::npos);
  j = llama();
  j["num_key_value_heads"] = 3;
  EXPECT_NE(error_of(j).find("multiple of num_key_value_heads"), std::string::npos);
  j = llama();
  j["hidden_act"] = "gelu";
  EXPECT_NE(error_of(j).find("'hidden_act' is 'gelu'"), std::string::npos);
}

}  // namespace
}  // namespace lorafarm::engine
