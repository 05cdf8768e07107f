// qwen3, smollm3, gemma3_text and gemma2 against float64 reference logits
// (tests/engine/config_semantics/family_fixtures.py, written from
// transformers' modeling code), in float32, bfloat16 and float16 weights;
// each family's config defaults and the fields lorafarm refuses.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "engine/golden_logits.h"
#include "engine/forward.h"
#include "engine/model.h"
#include "test_support.h"

namespace lorafarm::engine {
namespace {

using namespace testing_support;
using nlohmann::json;

// Tolerance: bf16/fp16 weights widen to float32 exactly, so every dtype runs
// the same float32 arithmetic on the same values the float64 reference uses;
// with logits of size ~1-5 and 3 layers of width ≤ 24 the float32 rounding
// stays near 1e-6, far below 1e-4. Each semantic is checked to matter: with
// it undone the logits move by more than kMoved.
constexpr double kTolerance = 1e-4;
constexpr double kMoved = 1e-3;

const char* const kDtypes[] = {"f32", "bf16", "f16"};

void expect_matches_reference(const std::string& family) {
  for (const char* dtype : kDtypes) {
    const std::string name = family + "_" + dtype;
    SCOPED_TRACE(name);
    const Model model = Model::load(semantics_fixture(name));
    EXPECT_LT(deviation_from_reference(model, name), kTolerance);
  }
}

TEST(FamilyForward, Qwen3PerHeadQkNormMatchesTheReference) {
  expect_matches_reference("qwen3");
  const Model model = Model::load(semantics_fixture("qwen3_f32"));
  EXPECT_TRUE(model.config.qk_norm);
  EXPECT_FALSE(model.config.tie_word_embeddings);  // Qwen3Config's default
  EXPECT_EQ(model.config.attention_window(2), 3);   // max_window_layers 2
  EXPECT_EQ(model.config.attention_window(1), 0);
  Model no_norm = model;
  no_norm.config.qk_norm = false;
  EXPECT_GT(deviation_from_reference(no_norm, "qwen3_f32"), kMoved);
}

TEST(FamilyForward, SmolLm3LayersWithoutRopeMatchTheReference) {
  expect_matches_reference("smollm3");
  const Model model = Model::load(semantics_fixture("smollm3_f32"));
  EXPECT_EQ(model.config.rope_layers, (std::vector<bool>{true, false, true}));  // no_rope_layer_interval 2
  EXPECT_EQ(model.config.rope_theta, 2000000.0);                               // SmolLM3Config's default
  EXPECT_TRUE(model.config.tie_word_embeddings);
  Model all_rope = model;
  all_rope.config.rope_layers.clear();
  EXPECT_GT(deviation_from_reference(all_rope, "smollm3_f32"), kMoved);
}

TEST(FamilyForward, Gemma3MatchesTheReferenceAndEachSemanticMatters) {
  expect_matches_reference("gemma3_text");
  const Model model = Model::load(semantics_fixture("gemma3_text_f32"));
  EXPECT_EQ(model.config.sliding_layers, (std::vector<bool>{true, true, false}));  // sliding_window_pattern 3
  for (auto undo : std::vector<void (*)(Model&)>{
           [](Model& m) { m.config.rope_local_theta = 0; },        // sliding layers on the global RoPE
           [](Model& m) { m.config.sliding_window = 0; },          // no window
           [](Model& m) { m.config.query_pre_attn_scalar = 0; },   // 1/√head_dim
           [](Model& m) { m.config.sandwich_norms = false; },
           [](Model& m) { m.config.activation = Activation::kSilu; },
           [](Model& m) { m.embed_scale = 1.0f; }}) {
    Model changed = model;
    undo(changed);
    EXPECT_GT(deviation_from_reference(changed, "gemma3_text_f32"), kMoved);
  }
  // √20 rounded to bf16 (4.46875) as transformers multiplies bf16 embeddings.
  Model bf16 = Model::load(semantics_fixture("gemma3_text_bf16"));
  EXPECT_EQ(bf16.embed_scale, 4.46875f);
  EXPECT_EQ(Model::load(semantics_fixture("gemma3_text_f16")).embed_scale, 4.47265625f);
  bf16.embed_scale = std::sqrt(20.0f);
  EXPECT_GT(deviation_from_reference(bf16, "gemma3_text_bf16"), kTolerance);
}

TEST(FamilyForward, Gemma2SoftCappingMatchesTheReference) {
  expect_matches_reference("gemma2");
  const Model model = Model::load(semantics_fixture("gemma2_f32"));
  EXPECT_FALSE(model.config.qk_norm);
  EXPECT_FALSE(model.config.tie_word_embeddings);
  for (auto undo : std::vector<void (*)(Model&)>{[](Model& m) { m.config.attn_logit_softcapping = 0; },
                                                 [](Model& m) { m.config.final_logit_softcapping = 0; }}) {
    Model changed = model;
    undo(changed);
    EXPECT_GT(deviation_from_reference(changed, "gemma2_f32"), kMoved);
  }
}

// The KV-cached path runs the same block as the batch forward.
TEST(FamilyForward, IncrementalDecodingEqualsTheBatchForward) {
  for (const char* name : {"qwen3_f32", "smollm3_f32", "gemma3_text_f32", "gemma2_bf16"}) {
    SCOPED_TRACE(name);
    const Model model = Model::load(semantics_fixture(name));
    const std::vector<TokenId> tokens = {3, 7, 1, 20, 5, 9, 11, 2};
    const Matrix batch = forward_one(model, tokens);
    KvCache cache(model.config, 16);
    forward_incremental(model, std::span(tokens).first(3), cache);
    for (std::size_t t = 3; t < tokens.size(); ++t) {
      const Matrix last = forward_incremental(model, std::span(tokens).subspan(t, 1), cache);
      EXPECT_LT((last.row(0) - batch.row(static_cast<Eigen::Index>(t))).cwiseAbs().maxCoeff(), 1e-5);
    }
  }
}

json minimal(const std::string& type) {
  return {{"model_type", type}, {"hidden_size", 32}, {"intermediate_size", 64}, {"num_hidden_layers", 12},
          {"num_attention_heads", 4}, {"vocab_size", 50}};
}

TEST(FamilyConfig, DefaultsOfEachConfigClass) {
  json qwen3_json = minimal("qwen3");
  qwen3_json["num_attention_heads"] = 64;  // Qwen3Config's num_key_value_heads default (32) must divide it
  const ModelConfig qwen3 = ModelConfig::from_json(qwen3_json);
  EXPECT_EQ(qwen3.head_dim, 128);
  EXPECT_EQ(qwen3.num_kv_heads, 32);
  EXPECT_EQ(qwen3.sliding_window, 0);
  const ModelConfig smol = ModelConfig::from_json(minimal("smollm3"));
  EXPECT_EQ(smol.head_dim, 8);
  EXPECT_EQ(smol.num_kv_heads, 4);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(smol.uses_rope(i), (i + 1) % 4 != 0) << i;
  const ModelConfig g3 = ModelConfig::from_json(minimal("gemma3_text"));
  EXPECT_EQ(g3.head_dim, 256);
  EXPECT_EQ(g3.rope_theta, 1000000.0);
  EXPECT_EQ(g3.rope_local_theta, 10000.0);
  EXPECT_EQ(g3.sliding_window, 4096);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(g3.attention_window(i) > 0, i != 5 && i != 11) << i;
  EXPECT_EQ(g3.attn_logit_softcapping, 0.0);
  EXPECT_FLOAT_EQ(g3.attention_scale(), 1.0f / 16);  // query_pre_attn_scalar 256
  const ModelConfig g2 = ModelConfig::from_json(minimal("gemma2"));
  EXPECT_EQ(g2.attn_logit_softcapping, 50.0);
  EXPECT_EQ(g2.final_logit_softcapping, 30.0);
  EXPECT_EQ(g2.max_position_embeddings, 8192);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(g2.attention_window(i) > 0, i % 2 == 0) << i;
  EXPECT_TRUE(g2.tie_word_embeddings);
}

TEST(FamilyConfig, WrittenConfigsReadBackTheSame) {
  for (const char* name : {"qwen3_f32", "smollm3_f32", "gemma3_text_f32", "gemma2_f32"}) {
    SCOPED_TRACE(name);
    const ModelConfig c = ModelConfig::load(semantics_fixture(name));
    const ModelConfig back = ModelConfig::from_json(c.to_json());
    EXPECT_EQ(back.to_json(), c.to_json());
    EXPECT_EQ(back.parameter_count(), c.parameter_count());
  }
}

// transformers 5 writes Gemma 3's RoPE per layer type; the fixture's
// version-4 fields in that form give the same settings.
TEST(FamilyConfig, Gemma3PerLayerTypeRopeParameters) {
  std::ifstream in(semantics_fixture("gemma3_text_f32") / "config.json");
  json j = json::parse(in);
  const ModelConfig v4 = ModelConfig::from_json(j);
  for (const char* field : {"rope_theta", "rope_scaling", "rope_local_base_freq"}) j.erase(field);
  j["rope_parameters"] = {{"full_attention", {{"rope_type", "linear"}, {"factor", 4.0}, {"rope_theta", 5000.0}}},
                          {"sliding_attention", {{"rope_type", "default"}, {"rope_theta", 100.0}}}};
  const ModelConfig v5 = ModelConfig::from_json(j);
  EXPECT_EQ(v5.rope_theta, v4.rope_theta);
  EXPECT_EQ(v5.rope_scaling.type, RopeScaling::Type::kLinear);
  EXPECT_EQ(v5.rope_scaling.factor, 4.0);
  EXPECT_EQ(v5.rope_local_theta, 100.0);
  j["rope_parameters"]["sliding_attention"] = {{"rope_type", "linear"}, {"factor", 2.0}};
  EXPECT_THROW(ModelConfig::from_json(j), InvalidInput);
  j["model_type"] = "gemma2";
  EXPECT_THROW(ModelConfig::from_json(j), InvalidInput);  // Gemma 2 has one RoPE for all layers
}

void expect_refused(json config, const std::string& fragment) {
  try {
    ModelConfig::from_json(config);
    ADD_FAILURE() << "accepted: " << config.dump();
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(FamilyConfig, FieldsThatWouldChangeTheNumbersAreRefusedByName) {
  json j = minimal("gemma3_text");
  j["hidden_activation"] = "gelu";
  expect_refused(j, "'hidden_activation'");
  j = minimal("gemma2");
  j["use_bidirectional_attention"] = true;
  expect_refused(j, "'use_bidirectional_attention'");
  j = minimal("qwen3");
  j["attention_bias"] = true;
  expect_refused(j, "'attention_bias'");
  j = minimal("smollm3");
  j["no_rope_layers"] = {1, 0};
  expect_refused(j, "'no_rope_layers'");
  j = minimal("gemma3_text");
  j["sliding_window"] = nullptr;
  expect_refused(j, "'sliding_window'");
  j = minimal("gemma");
  expect_refused(j, "supported: llama, mistral, qwen2, phi3, qwen3, smollm3, gemma2, gemma3_text");
}

}  // namespace
}  // namespace lorafarm::engine
