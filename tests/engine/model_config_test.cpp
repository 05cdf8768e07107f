// config.json parsing: the four architectures, their transformers defaults and
// window/RoPE semantics, and clear errors for fields lorafarm does not compute.
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

// Only what every config must say: the rest comes from the family's defaults.
json minimal(const std::string& model_type) {
  return {{"model_type", model_type}, {"hidden_size", 64},       {"intermediate_size", 128},
          {"num_hidden_layers", 5},   {"num_attention_heads", 8}, {"num_key_value_heads", 4},
          {"vocab_size", 256}};
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

// Expects from_json(j) to throw an InvalidInput whose message contains `part`.
void expect_error(const json& j, const std::string& part) {
  const std::string message = error_of(j);
  EXPECT_NE(message.find(part), std::string::npos) << "message: '" << message << "', expected: " << part;
}

TEST(ModelConfigDefaults, EachFamilyTakesItsTransformersDefaults) {
  struct Expected {
    const char* type;
    double eps;
    int context;
  };
  for (const Expected& e : {Expected{"llama", 1e-6, 2048}, Expected{"mistral", 1e-6, 131072},
                            Expected{"qwen2", 1e-6, 32768}, Expected{"phi3", 1e-5, 4096}}) {
    SCOPED_TRACE(e.type);
    const ModelConfig c = ModelConfig::from_json(minimal(e.type));
    EXPECT_EQ(c.rms_norm_eps, e.eps);
    EXPECT_EQ(c.max_position_embeddings, e.context);
    EXPECT_FALSE(c.tie_word_embeddings);  // False in all four config classes
    EXPECT_EQ(c.rope_theta, 10000.0);
    EXPECT_EQ(c.head_dim, 8);  // hidden / heads when head_dim is absent
  }
}

TEST(ModelConfigDefaults, KeyValueHeadsWhenAbsentOrNull) {
  json j = minimal("mistral");
  j.erase("num_key_value_heads");
  EXPECT_EQ(ModelConfig::from_json(j).num_kv_heads, 8);  // MistralConfig
  j["num_key_value_heads"] = nullptr;
  EXPECT_EQ(ModelConfig::from_json(j).num_kv_heads, 8);  // null: the head count (8 here too)
  j["num_attention_heads"] = 4;
  EXPECT_EQ(ModelConfig::from_json(j).num_kv_heads, 4);
  j = minimal("llama");
  j.erase("num_key_value_heads");
  EXPECT_EQ(ModelConfig::from_json(j).num_kv_heads, 8);
  j = minimal("qwen2");
  j.erase("num_key_value_heads");
  j["num_attention_heads"] = 32;
  j["hidden_size"] = 256;
  EXPECT_EQ(ModelConfig::from_json(j).num_kv_heads, 32);  // Qwen2Config's 32
}

TEST(ModelConfigDefaults, HeadDimAndTiedHeadAsGiven) {
  json j = minimal("llama");
  j["head_dim"] = 16;
  j["tie_word_embeddings"] = true;
  const ModelConfig c = ModelConfig::from_json(j);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_TRUE(c.tie_word_embeddings);
  // q/o: 64·128 each, k/v: 64·64 each, MLP 3·64·128, two norms; one 256·64 embedding.
  EXPECT_EQ(c.parameter_count(), 5 * (2 * 64 * 128 + 2 * 64 * 64 + 3 * 64 * 128 + 2 * 64) + 256 * 64 + 64);
  j.erase("head_dim");
  j["hidden_size"] = 60;
  expect_error(j, "hidden_size (60) must be a multiple of num_attention_heads");
}

TEST(ModelConfigWindows, MistralSlidesEveryLayerWith4096ByDefault) {
  json j = minimal("mistral");
  EXPECT_EQ(ModelConfig::from_json(j).sliding_window, 4096);
  j["sliding_window"] = nullptr;
  EXPECT_EQ(ModelConfig::from_json(j).sliding_window, 0);
  j["sliding_window"] = 128;
  const ModelConfig c = ModelConfig::from_json(j);
  for (int layer = 0; layer < c.num_layers; ++layer) EXPECT_EQ(c.attention_window(layer), 128);
}

TEST(ModelConfigWindows, Phi3SlidesOnlyWhenSet) {
  json j = minimal("phi3");
  EXPECT_EQ(ModelConfig::from_json(j).sliding_window, 0);
  j["sliding_window"] = 2047;  // Phi-3-mini-4k
  const ModelConfig c = ModelConfig::from_json(j);
  EXPECT_EQ(c.attention_window(0), 2047);
  EXPECT_EQ(c.attention_window(4), 2047);
  j["sliding_window"] = 0;
  expect_error(j, "'sliding_window' must be a positive integer");
}

TEST(ModelConfigWindows, LlamaHasNoWindow) {
  json j = minimal("llama");
  j["sliding_window"] = 128;  // not a LlamaConfig field: transformers' Llama ignores it
  EXPECT_EQ(ModelConfig::from_json(j).attention_window(0), 0);
}

TEST(ModelConfigWindows, Qwen2SlidesOnlyWithUseSlidingWindowFromMaxWindowLayers) {
  json j = minimal("qwen2");
  j["sliding_window"] = 32;
  j["max_window_layers"] = 3;
  EXPECT_EQ(ModelConfig::from_json(j).sliding_window, 0);  // use_sliding_window defaults to false
  j["use_sliding_window"] = false;
  EXPECT_EQ(ModelConfig::from_json(j).sliding_window, 0);
  j["use_sliding_window"] = true;
  const ModelConfig c = ModelConfig::from_json(j);
  const std::vector<int> expected{0, 0, 0, 32, 32};
  for (int layer = 0; layer < 5; ++layer) EXPECT_EQ(c.attention_window(layer), expected[layer]) << layer;
  j["max_window_layers"] = 0;
  EXPECT_EQ(ModelConfig::from_json(j).attention_window(0), 32);
  j.erase("max_window_layers");  // 28 by default: no layer of 5 slides
  EXPECT_EQ(ModelConfig::from_json(j).sliding_window, 0);
  j.erase("sliding_window");  // 4096 by default
  j["max_window_layers"] = 4;
  EXPECT_EQ(ModelConfig::from_json(j).attention_window(4), 4096);
}

TEST(ModelConfigWindows, Qwen2LayerTypesWhenListed) {
  json j = minimal("qwen2");
  j["use_sliding_window"] = true;
  j["sliding_window"] = 16;
  j["layer_types"] = {"sliding_attention", "full_attention", "sliding_attention", "full_attention", "full_attention"};
  const ModelConfig c = ModelConfig::from_json(j);
  EXPECT_EQ(c.attention_window(0), 16);
  EXPECT_EQ(c.attention_window(1), 0);
  EXPECT_EQ(c.attention_window(2), 16);
  j["layer_types"][1] = "chunked_attention";
  expect_error(j, "'layer_types' has \"chunked_attention\" at index 1");
  j["layer_types"] = {"full_attention"};
  expect_error(j, "'layer_types' must be a list of num_hidden_layers (5) entries");
  j["layer_types"] = {"sliding_attention", "full_attention", "full_attention", "full_attention", "full_attention"};
  j["use_sliding_window"] = false;
  expect_error(j, "'layer_types' marks sliding_attention layers but no window applies");
}

TEST(ModelConfigWindows, WindowsSurviveToJsonAndBack) {
  json j = minimal("qwen2");
  j["use_sliding_window"] = true;
  j["sliding_window"] = 16;
  j["max_window_layers"] = 2;
  const ModelConfig qwen = ModelConfig::from_json(j);
  const ModelConfig qwen_again = ModelConfig::from_json(qwen.to_json());
  for (int layer = 0; layer < 5; ++layer) EXPECT_EQ(qwen_again.attention_window(layer), qwen.attention_window(layer));
  json m = minimal("mistral");
  m["sliding_window"] = nullptr;
  EXPECT_EQ(ModelConfig::from_json(ModelConfig::from_json(m).to_json()).sliding_window, 0);
  json p = minimal("phi3");
  p["sliding_window"] = 64;
  const ModelConfig phi_again = ModelConfig::from_json(ModelConfig::from_json(p).to_json());
  EXPECT_EQ(phi_again.sliding_window, 64);
  EXPECT_EQ(phi_again.rms_norm_eps, 1e-5);
}

TEST(ModelConfigRope, RopeParametersOfTransformers5) {
  json j = minimal("llama");
  j["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 500000.0}};
  ModelConfig c = ModelConfig::from_json(j);
  EXPECT_EQ(c.rope_theta, 500000.0);
  EXPECT_EQ(c.rope_scaling.type, RopeScaling::Type::kNone);
  j["rope_parameters"] = {{"rope_type", "llama3"}, {"rope_theta", 500000.0}, {"factor", 32.0},
                          {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0},
                          {"original_max_position_embeddings", 8192}};
  c = ModelConfig::from_json(j);
  EXPECT_EQ(c.rope_scaling.type, RopeScaling::Type::kLlama3);
  EXPECT_EQ(c.rope_scaling.factor, 32.0);
  EXPECT_EQ(c.rope_theta, 500000.0);
  j["rope_parameters"] = {{"rope_type", "linear"}, {"factor", 2.0}};
  j["rope_theta"] = 1000.0;  // the top-level base applies when rope_parameters has none
  c = ModelConfig::from_json(j);
  EXPECT_EQ(c.rope_scaling.type, RopeScaling::Type::kLinear);
  EXPECT_EQ(c.rope_theta, 1000.0);
  j["rope_scaling"] = {{"type", "linear"}, {"factor", 4.0}};  // wins over rope_parameters, as in transformers 5
  EXPECT_EQ(ModelConfig::from_json(j).rope_scaling.factor, 4.0);
}

TEST(ModelConfigRope, UncomputedRopeIsAnErrorNamingIt) {
  json j = minimal("qwen2");
  j["rope_parameters"] = {{"rope_type", "dynamic"}, {"factor", 2.0}, {"rope_theta", 10000.0}};
  expect_error(j, "'rope_parameters.rope_type' is 'dynamic'");
  j["rope_parameters"] = {{"rope_type", "default"}, {"partial_rotary_factor", 0.5}};
  expect_error(j, "'rope_parameters.partial_rotary_factor' is 0.5");
  j.erase("rope_parameters");
  j["partial_rotary_factor"] = 0.75;
  expect_error(j, "'partial_rotary_factor' is 0.75");
  j.erase("partial_rotary_factor");
  j["rope_parameters"] = {{"full_attention", {{"rope_type", "default"}}}};
  expect_error(j, "'rope_parameters.full_attention' holds per-layer-type RoPE parameters");
  j["rope_parameters"] = {{"rope_type", "llama3"}, {"factor", 8.0}, {"high_freq_factor", 4.0},
                          {"original_max_position_embeddings", 8192}};
  expect_error(j, "missing required field 'rope_parameters.low_freq_factor'");
  j.erase("rope_parameters");
  j["rope_scaling"] = {{"rope_type", "longrope"}, {"factor", 32.0}};
  expect_error(j, "'rope_scaling.rope_type' is 'longrope'");
}

TEST(ModelConfigUnimplemented, FieldsThatChangeTheComputationAreNamed) {
  json j = minimal("llama");
  j["attention_dropout"] = 0.1;
  expect_error(j, "'attention_dropout' is 0.1");
  j = minimal("llama");
  j["mlp_bias"] = true;
  expect_error(j, "'mlp_bias' is true");
  j = minimal("llama");
  j["attention_bias"] = true;
  expect_error(j, "'attention_bias' is true");
  j = minimal("phi3");
  j["resid_pdrop"] = 0.1;
  expect_error(j, "'resid_pdrop' is 0.1");
  j = minimal("phi3");
  j["embd_pdrop"] = 0.05;
  expect_error(j, "'embd_pdrop' is 0.05");
  j = minimal("mistral");
  j["quantization_config"] = {{"quant_method", "bitsandbytes"}, {"load_in_4bit", true}};
  expect_error(j, "'quantization_config' is set");
  j["quantization"] = {{"bits", 4}, {"group_size", 64}};
  expect_error(j, "'quantization_config' is set");
  j["quantization_config"] = j["quantization"];  // mlx-lm writes the same block under both names
  EXPECT_NO_THROW(ModelConfig::from_json(j));
}

TEST(ModelConfigUnimplemented, HarmlessFieldsAreAccepted) {
  json j = minimal("phi3");
  j.update(json{{"attention_dropout", 0.0}, {"resid_pdrop", 0.0}, {"embd_pdrop", 0.0}, {"use_cache", true},
            {"initializer_range", 0.02}, {"torch_dtype", "bfloat16"}, {"original_max_position_embeddings", 4096},
            {"attention_bias", false}, {"pad_token_id", 32000}, {"transformers_version", "4.40.2"}});
  EXPECT_NO_THROW(ModelConfig::from_json(j));
  json l = minimal("llama");
  l.update(json{{"pretraining_tp", 1}, {"mlp_bias", false}, {"attention_bias", false}});
  EXPECT_NO_THROW(ModelConfig::from_json(l));
}

}  // namespace
}  // namespace lorafarm::engine
