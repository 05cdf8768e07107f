// Quantized model folders: quantize → save → load round trips (MLX's affine
// dequantization formula checked against the raw tensors on disk), the layers
// that stay float, and `lorafarm quantize` end to end.
#include "engine/quantized_model_io.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "engine/forward.h"
#include "engine/safetensors.h"
#include "test_support.h"

namespace lorafarm::engine {
namespace {

using Mode = QuantizationConfig::Mode;
using lorafarm::testing::ScratchDir;

QuantizationConfig affine(int bits, int group_size) { return {Mode::kAffine, bits, group_size}; }

void expect_same_quantized(const QuantizedModel& a, const QuantizedModel& b) {
  ASSERT_EQ(a.layers.size(), b.layers.size());
  for (std::size_t i = 0; i < a.layers.size(); ++i) {
    ASSERT_EQ(a.layers[i].size(), b.layers[i].size()) << "layer " << i;
    for (const auto& [key, m] : a.layers[i]) {
      const QuantizedMatrix* other = b.find(static_cast<int>(i), key);
      ASSERT_NE(other, nullptr) << key;
      EXPECT_EQ(m.packed, other->packed) << key;
      EXPECT_EQ(m.scales, other->scales) << key;
      EXPECT_EQ(m.biases, other->biases) << key;
      EXPECT_EQ(m.codes, other->codes) << key;
      EXPECT_EQ(m.absmax_codes, other->absmax_codes) << key;
      EXPECT_EQ(m.nested_absmax, other->nested_absmax) << key;
      EXPECT_EQ(m.absmax_offset, other->absmax_offset) << key;
    }
  }
  EXPECT_EQ(a.unquantized, b.unquantized);
  EXPECT_EQ(a.model.embed_tokens, b.model.embed_tokens);
  EXPECT_EQ(a.model.final_norm, b.model.final_norm);
}

TEST(QuantizedModelFolder, AffineRoundTripReproducesMlxDequantizationFromTheRawTensors) {
  const Model original = Model::random(preset_config("tiny"), 3);
  const QuantizedModel quantized = quantize_model(Model::random(preset_config("tiny"), 3), affine(4, 32));
  ScratchDir dir;
  save_quantized_model(quantized, dir.path());
  const QuantizedModel loaded = load_quantized_model(dir.path());
  expect_same_quantized(quantized, loaded);

  // Independently of the engine's unpacking: w' = scales·q + biases with
  // q = (word >> 4j) & 0xF, as mlx.core.dequantize computes it.
  const Checkpoint ck = Checkpoint::open(dir.path());
  const TensorView& words = ck.tensor("model.layers.1.self_attn.q_proj.weight");
  ASSERT_EQ(words.dtype, DType::kU32);
  ASSERT_EQ(words.shape, (std::vector<int64_t>{32, 4}));
  const std::vector<float> scales = ck.tensor("model.layers.1.self_attn.q_proj.scales").to_float();
  const std::vector<float> biases = ck.tensor("model.layers.1.self_attn.q_proj.biases").to_float();
  const Matrix engine_w = loaded.find(1, "self_attn.q_proj")->dequantize();
  const Matrix& float_w = original.blocks[1].q_proj.weight;
  for (int64_t r = 0; r < 32; ++r) {
    for (int64_t c = 0; c < 32; ++c) {
      uint32_t word;
      std::memcpy(&word, words.bytes.data() + (r * 4 + c / 8) * 4, 4);
      const float q = static_cast<float>((word >> (4 * (c % 8))) & 0xF);
      const float expected = scales[r] * q + biases[r];
      EXPECT_NEAR(engine_w(r, c), expected, 1e-7f * std::max(1.0f, std::abs(expected)));
      EXPECT_LE(std::abs(float_w(r, c) - expected), std::abs(scales[r]) * 1.0001f);
    }
  }
  const auto config = nlohmann::json::parse(lorafarm::testing::read_file(dir / "config.json"));
  EXPECT_EQ(config["quantization"]["bits"], 4);
  EXPECT_EQ(config["quantization"]["group_size"], 32);
  EXPECT_EQ(config["quantization"]["mode"], "affine");
}

TEST(QuantizedModelFolder, Nf4RoundTripKeepsEveryField) {
  const QuantizedModel quantized = quantize_model(Model::random(preset_config("tiny"), 4), {Mode::kNf4, 4, 32});
  ScratchDir dir;
  save_quantized_model(quantized, dir.path());
  const Checkpoint ck = Checkpoint::open(dir.path());
  EXPECT_EQ(ck.tensor("model.layers.0.mlp.up_proj.weight").dtype, DType::kU8);
  EXPECT_EQ(ck.tensor("model.layers.0.mlp.up_proj.weight.absmax").dtype, DType::kU8);
  EXPECT_EQ(ck.tensor("model.layers.0.mlp.up_proj.weight.nested_absmax").dtype, DType::kF32);
  const QuantizedModel loaded = load_quantized_model(dir.path());
  expect_same_quantized(quantized, loaded);
  EXPECT_EQ(dequantize_model(loaded).blocks[0].down_proj.weight, quantized.find(0, "mlp.down_proj")->dequantize());
}

TEST(QuantizedModelFolder, Phi3FusedProjectionsAreStackedOnSaveAndSplitOnLoad) {
  ModelConfig c = preset_config("tiny");
  c.model_type = "phi3";
  c.fused_qkv = c.fused_gate_up = true;
  const QuantizedModel quantized = quantize_model(Model::random(c, 5), affine(8, 32));
  ScratchDir dir;
  save_quantized_model(quantized, dir.path());
  const Checkpoint ck = Checkpoint::open(dir.path());
  EXPECT_TRUE(ck.contains("model.layers.0.self_attn.qkv_proj.scales"));
  EXPECT_TRUE(ck.contains("model.layers.0.mlp.gate_up_proj.scales"));
  expect_same_quantized(quantized, load_quantized_model(dir.path()));
}

TEST(QuantizedModelBuild, RandomQuantizedModelIsTheQuantizationOfModelRandom) {
  const ModelConfig c = preset_config("tiny");
  expect_same_quantized(quantize_model(Model::random(c, 9), affine(4, 32)), random_quantized_model(c, 9, affine(4, 32)));
}

TEST(QuantizedModelBuild, Stories260KKeepsDownProjInFloatAndStaysClose) {
  const Model base = Model::load(lorafarm::testing::bundled_model());
  ASSERT_EQ(base.config.intermediate_size, 172);
  const QuantizedModel q4 = quantize_model(Model::load(lorafarm::testing::bundled_model()), affine(4, 64));
  ASSERT_EQ(q4.unquantized.size(), base.blocks.size());
  for (std::size_t i = 0; i < base.blocks.size(); ++i) {
    EXPECT_EQ(q4.unquantized[i], "model.layers." + std::to_string(i) + ".mlp.down_proj");
    EXPECT_EQ(q4.find(static_cast<int>(i), "mlp.down_proj"), nullptr);
    EXPECT_NE(q4.find(static_cast<int>(i), "mlp.up_proj"), nullptr);
    EXPECT_EQ(q4.model.blocks[i].q_proj.weight.size(), 0);  // the float copy is gone
    EXPECT_EQ(q4.model.blocks[i].down_proj.weight, base.blocks[i].down_proj.weight);
  }
  // Logits of a short sequence move by a small fraction of their spread.
  const std::vector<std::vector<TokenId>> seq = {{1, 403, 407, 261, 378, 429, 258, 300, 290, 271}};
  const Matrix ref = forward(base, TokenBatch::from_sequences(seq));
  for (int bits : {4, 8}) {
    const Model deq = dequantize_model(quantize_model(Model::load(lorafarm::testing::bundled_model()), affine(bits, 64)));
    const Matrix got = forward(deq, TokenBatch::from_sequences(seq));
    const float spread = (ref.array() - ref.mean()).abs().mean();
    const float moved = (got - ref).cwiseAbs().mean();
    EXPECT_LT(moved, (bits == 4 ? 0.25f : 0.02f) * spread) << bits << "-bit";
  }
}

TEST(QuantizedModelBuild, AModelTooSmallForTheGroupSizeIsRejected) {
  try {
    quantize_model(Model::load(lorafarm::testing::bundled_model()), affine(4, 128));
    FAIL() << "expected InvalidInput";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("groups of 128"), std::string::npos) << e.what();
  }
}

TEST(QuantizedModelFolder, LoadRejectsAFolderWithoutAQuantizationBlock) {
  EXPECT_THROW(load_quantized_model(lorafarm::testing::bundled_model()), InvalidInput);
  // ... while load_model_dequantized takes either kind of folder.
  EXPECT_EQ(load_model_dequantized(lorafarm::testing::bundled_model()).blocks.size(), 5u);
}

TEST(QuantizeCommand, WritesALoadableFolderAndNamesTheFloatLayers) {
  ScratchDir dir;
  const auto out = dir / "q4";
  const auto r = lorafarm::testing::run_lorafarm(
      {"quantize", "--model", lorafarm::testing::bundled_model().string(), "--bits", "4", "--group-size", "64", "-o",
       out.string(), "--threads", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("model.layers.0.mlp.down_proj"), std::string::npos) << r.out;
  EXPECT_TRUE(std::filesystem::exists(out / "tokenizer.model"));
  EXPECT_TRUE(std::filesystem::exists(out / "tokenizer.json"));
  const QuantizedModel loaded = load_quantized_model(out);
  EXPECT_EQ(loaded.quantization.bits, 4);
  EXPECT_EQ(loaded.unquantized.size(), 5u);
  EXPECT_LT(std::filesystem::file_size(out / "model.safetensors"),
            std::filesystem::file_size(lorafarm::testing::bundled_model() / "model.safetensors"));
}

TEST(QuantizeCommand, RejectsUnsupportedBitsWithOneLine) {
  ScratchDir dir;
  const auto r = lorafarm::testing::run_lorafarm(
      {"quantize", "--model", lorafarm::testing::bundled_model().string(), "--bits", "3", "-o", (dir / "q").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("bits 3"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "q"));
}

}  // namespace
}  // namespace lorafarm::engine
