// Training the newer families: the whole model's gradient by finite
// differences (full fine-tuning reaches every new weight and op), one
// optimizer step of LoRA, DoRA, QLoRA and full fine-tuning lowering the loss,
// and adapters saved in the mlx-lm and PEFT layouts under Hugging Face's
// module names that load back to the same loss.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "engine/adapter_io.h"
#include "engine/forward.h"
#include "engine/fuse.h"
#include "engine/gradient_check.h"
#include "engine/optimizer.h"
#include "engine/quantized_model_io.h"
#include "engine/safetensors.h"
#include "engine/trainable_fixtures.h"
#include "engine/trainable_model.h"
#include "test_support.h"

namespace lorafarm::engine {
namespace {

using namespace testing_support;
using nlohmann::json;

const char* const kFamilies[] = {"qwen3", "smollm3", "gemma3_text", "gemma2"};

// A tiny config of the family with every feature switched on: GQA, a window
// on some layers, a layer without RoPE (smollm3), soft caps that bite (gemma2).
ModelConfig family_config(const std::string& type) {
  json j = {{"model_type", type}, {"hidden_size", 32}, {"intermediate_size", 64}, {"num_hidden_layers", 2},
            {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"head_dim", 8}, {"vocab_size", 64},
            {"max_position_embeddings", 64}, {"sliding_window", 3}, {"tie_word_embeddings", type != "gemma2"}};
  if (type == "qwen3") j.update({{"use_sliding_window", true}, {"max_window_layers", 1}});
  if (type == "smollm3") j["no_rope_layers"] = {1, 0};
  if (type == "gemma3_text") j.update({{"sliding_window_pattern", 2}, {"query_pre_attn_scalar", 6}});
  if (type == "gemma2") j.update({{"attn_logit_softcapping", 3.0}, {"final_logit_softcapping", 2.0}});
  return ModelConfig::from_json(j);
}

// Random weights large enough that the loss is not flat, norms away from identity.
Model family_model(const std::string& type) {
  Model m = Model::random(family_config(type), 11);
  m.embed_tokens *= 15.0f;
  if (!m.config.tie_word_embeddings) m.lm_head *= 15.0f;
  uint64_t seed = 20;
  for (DecoderBlock& b : m.blocks) {
    for (Linear* l : {&b.q_proj, &b.k_proj, &b.v_proj, &b.o_proj, &b.gate_proj, &b.up_proj, &b.down_proj}) {
      l->weight *= 15.0f;
    }
    for (const NormSlot& slot : block_norm_slots(m.config, b)) *slot.weight += Vector(random_matrix(slot.size, 1, 0.2f, ++seed));
  }
  return m;
}

void backward(TrainableModel& tm, const TrainBatch& batch, bool checkpoint) {
  tm.zero_grad();
  const auto l = tm.forward_backward(batch, 1.0f / static_cast<float>(batch.loss_tokens()), checkpoint, 0);
  EXPECT_NEAR(l.sum / static_cast<double>(l.tokens), mean_loss(tm, batch), 1e-5);
}

TEST(FamilyTraining, FullFineTuningGradientOfEveryWeightMatchesFiniteDifferences) {
  for (const char* type : kFamilies) {
    SCOPED_TRACE(type);
    AdapterConfig config;
    config.type = FineTuneType::kFull;
    TrainableModel tm(family_model(type), config, 1);
    EXPECT_EQ(tm.trainable_params(), tm.model().config.parameter_count());
    const TrainBatch batch = tiny_batch();
    for (bool checkpoint : {false, true}) {
      backward(tm, batch, checkpoint);
      for (const ParamRef& p : tm.parameters()) {
        expect_gradient(p.values(), p.grads(), [&] { return mean_loss(tm, batch); }, p.name, 4);
      }
    }
  }
}

TEST(FamilyTraining, LoraGradientMatchesFiniteDifferences) {
  for (const char* type : kFamilies) {
    SCOPED_TRACE(type);
    AdapterConfig config;
    config.rank = 2;
    config.scale = 2.0f;
    TrainableModel tm(family_model(type), config, 1);
    uint64_t seed = 100;
    for (int block = 0; block < 2; ++block) {
      for (int m = 0; m < 7; ++m) {
        AdaptedLinear& l = tm.layer(block, static_cast<Module>(m));
        l.lora_b().array() = random_matrix(l.lora_b().rows(), l.lora_b().cols(), 0.3f, ++seed).array();
      }
    }
    const TrainBatch batch = tiny_batch();
    backward(tm, batch, false);
    for (const ParamRef& p : tm.parameters()) {
      expect_gradient(p.values(), p.grads(), [&] { return mean_loss(tm, batch); }, p.name, 3);
    }
  }
}

AdapterConfig method(const std::string& name) {
  AdapterConfig config;
  config.rank = 4;
  config.scale = 1.0f;
  config.type = parse_fine_tune_type(name == "qlora" ? "lora" : name);
  if (name == "qlora") config.quantization = QuantizationConfig{QuantizationConfig::Mode::kNf4, 4, 32};
  return config;
}

TEST(FamilyTraining, OneStepOfEachMethodLowersTheLoss) {
  for (const char* type : kFamilies) {
    for (const std::string name : {"lora", "dora", "qlora", "full"}) {
      SCOPED_TRACE(std::string(type) + " " + name);
      TrainableModel tm(family_model(type), method(name), 3);
      EXPECT_TRUE(tm.unquantized_layers().empty());
      const TrainBatch batch = tiny_batch();
      const double before = mean_loss(tm, batch);
      backward(tm, batch, false);
      AdamW adam(tm.parameters(), AdamWOptions{});
      adam.step(tm.parameters(), name == "full" ? 1e-3 : 1e-2);
      EXPECT_LT(mean_loss(tm, batch), before - 1e-3);
    }
  }
}

// Without checkpointing a block keeps only what a GEMM would rebuild and
// backward rebuilds the rest (norm outputs, q/k after their norms, attention
// probabilities and output, the gated activation, dropout masks); a
// checkpointed block's re-forward keeps all of them. Both give the same bits.
TEST(FamilyTraining, RebuiltActivationsGiveTheGradientsOfKeptOnes) {
  for (const char* type : kFamilies) {
    for (const std::string name : {"lora", "dora", "qlora", "full"}) {
      SCOPED_TRACE(std::string(type) + " " + name);
      AdapterConfig config = method(name);
      if (name != "full") config.dropout = 0.2f;
      TrainableModel lean(family_model(type), config, 3), kept(family_model(type), config, 3);
      uint64_t seed = 200;
      for (TrainableModel* tm : {&lean, &kept}) {
        for (int block = 0; block < 2; ++block) {
          for (int m = 0; m < 7; ++m) {
            AdaptedLinear& l = tm->layer(block, static_cast<Module>(m));
            if (l.has_adapter()) l.lora_b() = random_matrix(l.lora_b().rows(), l.lora_b().cols(), 0.3f, ++seed);
          }
        }
        seed = 200;
        tm->zero_grad();
      }
      const TrainBatch batch = tiny_batch();
      const auto a = lean.forward_backward(batch, 0.1f, false, 9);
      const auto b = kept.forward_backward(batch, 0.1f, true, 9);
      EXPECT_EQ(a.sum, b.sum);
      for (std::size_t i = 0; i < lean.parameters().size(); ++i) {
        const ParamRef& p = lean.parameters()[i];
        const ParamRef& q = kept.parameters()[i];
        for (int64_t j = 0; j < p.size; ++j) ASSERT_EQ(p.grad[j], q.grad[j]) << p.name << " " << j;
      }
    }
  }
}

std::vector<std::string> tensor_names(const std::filesystem::path& file) {
  std::vector<std::string> names;
  const SafetensorsFile opened = SafetensorsFile::open(file);
  for (const auto& [name, view] : opened.tensors()) names.push_back(name);
  return names;
}

bool has(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

TEST(FamilyAdapters, MlxAndPeftLayoutsUseHfModuleNamesAndLoadBack) {
  for (const char* type : kFamilies) {
    SCOPED_TRACE(type);
    testing::ScratchDir dir;
    TrainableModel tm(family_model(type), method("lora"), 5);
    const TrainBatch batch = tiny_batch();
    backward(tm, batch, false);
    AdamW adam(tm.parameters(), AdamWOptions{});
    adam.step(tm.parameters(), 1e-2);
    const double trained = mean_loss(tm, batch);
    save_adapter(dir / "mlx", tm, AdapterFormat::kMlx);
    save_adapter(dir / "peft", tm, AdapterFormat::kPeft);
    const auto mlx = tensor_names(dir / "mlx" / "adapters.safetensors");
    const auto peft = tensor_names(dir / "peft" / "adapter_model.safetensors");
    for (const char* module : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                               "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"}) {
      EXPECT_TRUE(has(mlx, std::string("model.layers.1.") + module + ".lora_a")) << module;
      EXPECT_TRUE(has(peft, std::string("base_model.model.model.layers.1.") + module + ".lora_A.weight")) << module;
    }
    for (const char* layout : {"mlx", "peft"}) {
      TrainableModel fresh(family_model(type), read_adapter_config(dir / layout), 9);
      EXPECT_NE(mean_loss(fresh, batch), trained);
      load_adapter_weights(dir / layout, fresh);
      EXPECT_NEAR(mean_loss(fresh, batch), trained, 1e-6) << layout;
    }
  }
}

// Full fine-tuning saves every weight under its HF name (the families' extra
// norms included) and loads back to the same loss.
TEST(FamilyAdapters, FullFineTuningSavesTheFamilysNormsByName) {
  for (const char* type : kFamilies) {
    SCOPED_TRACE(type);
    testing::ScratchDir dir;
    TrainableModel tm(family_model(type), method("full"), 5);
    const TrainBatch batch = tiny_batch();
    backward(tm, batch, false);
    AdamW adam(tm.parameters(), AdamWOptions{});
    adam.step(tm.parameters(), 1e-3);
    save_adapter(dir / "full", tm, AdapterFormat::kMlx);
    const auto names = tensor_names(dir / "full" / "adapters.safetensors");
    const ModelConfig& c = tm.model().config;
    EXPECT_TRUE(has(names, std::string("model.layers.0.") + mlp_norm_name(c)));
    EXPECT_EQ(has(names, "model.layers.0.self_attn.q_norm.weight"), c.qk_norm);
    EXPECT_EQ(has(names, "model.layers.0.post_feedforward_layernorm.weight"), c.sandwich_norms);
    TrainableModel fresh(family_model(type), method("full"), 5);
    load_adapter_weights(dir / "full", fresh);
    EXPECT_NEAR(mean_loss(fresh, batch), mean_loss(tm, batch), 1e-6);
  }
}

Matrix logits(const Model& model) {
  const std::vector<std::vector<TokenId>> one{{3, 7, 1, 20, 5, 9}};
  return forward(model, TokenBatch::from_sequences(one));
}

// `fuse` writes the merged weights under the family's names (Gemma's four
// norms, q/k norms) and the reloaded folder computes the same logits. The
// fused folder is float32, so a Gemma fused from bf16/fp16 weights scales
// embeddings by √hidden in float32, as transformers would compute that folder.
TEST(FamilyAdapters, FusedFolderReloadsToTheMergedModel) {
  for (const char* fixture : {"qwen3_bf16", "smollm3_f32", "gemma3_text_f16", "gemma2_f32"}) {
    SCOPED_TRACE(fixture);
    testing::ScratchDir dir;
    const auto source = testing::source_dir() / "tests/engine/config_semantics" / fixture;
    const Model base = Model::load(source);
    AdapterConfig config;
    config.rank = 2;
    config.scale = 2.0f;
    TrainableModel tm(base, config, 5);
    for (int m = 0; m < 7; ++m) {
      AdaptedLinear& l = tm.layer(1, static_cast<Module>(m));
      l.lora_b().array() = random_matrix(l.lora_b().rows(), l.lora_b().cols(), 0.3f, 50 + m).array();
    }
    Model merged = tm.merged_model();
    EXPECT_EQ(merged.embed_scale, base.embed_scale);
    save_model_folder(merged, source, dir / "fused");
    const Model fused = Model::load(dir / "fused");
    merged.embed_scale = embedding_scale(base.config, DType::kF32);
    EXPECT_EQ(fused.embed_scale, merged.embed_scale);
    EXPECT_LT((logits(fused) - logits(merged)).cwiseAbs().maxCoeff(), 1e-5);
    EXPECT_GT((logits(fused) - logits(base)).cwiseAbs().maxCoeff(), 1e-3);
  }
}

// `lorafarm quantize` folders keep the family's config fields and norms.
TEST(FamilyAdapters, QuantizedFolderKeepsTheFamily) {
  for (const char* type : kFamilies) {
    SCOPED_TRACE(type);
    testing::ScratchDir dir;
    const Model model = family_model(type);
    save_quantized_model(quantize_model(model, QuantizationConfig{QuantizationConfig::Mode::kAffine, 8, 32}),
                         dir / "q");
    const Model back = load_model_dequantized(dir / "q");
    EXPECT_EQ(back.config.to_json(), model.config.to_json());  // dequantized: no quantization block
    EXPECT_LT((logits(back) - logits(model)).cwiseAbs().maxCoeff(), 0.1 * logits(model).cwiseAbs().maxCoeff());
    for (std::size_t i = 0; i < back.blocks.size(); ++i) {
      const auto read = block_norm_slots(back.config, back.blocks[i]);
      const auto written = block_norm_slots(model.config, model.blocks[i]);
      ASSERT_EQ(read.size(), written.size());
      for (std::size_t n = 0; n < read.size(); ++n) EXPECT_EQ(*read[n].weight, *written[n].weight) << read[n].name;
    }
  }
}

}  // namespace
}  // namespace lorafarm::engine
