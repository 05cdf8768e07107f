// Quantized models for QLoRA: a float Model whose decoder-block linears are
// replaced by packed QuantizedMatrix weights, and the folders `lorafarm
// quantize` writes (config.json with a `quantization` block; affine weights
// in mlx-lm's layout, nf4 weights under bitsandbytes' names). Embeddings,
// norms, the head and biases stay float32. Layout: docs/quantization.md.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "engine/model.h"
#include "engine/quantization.h"

namespace lorafarm::engine {

struct QuantizedModel {
  // Everything float32. The weight of every quantized linear is left empty
  // (0 × 0) so its float copy is not held; its bias (qwen2) stays here.
  Model model;
  QuantizationConfig quantization;
  // Per decoder block, the quantized linears by module key
  // ("self_attn.q_proj", ..., "mlp.down_proj"; see linear_keys()).
  std::vector<std::map<std::string, QuantizedMatrix>> layers;
  // HF names ("model.layers.0.mlp.down_proj") of the linears kept in float32
  // because their input size is not a multiple of the group size.
  std::vector<std::string> unquantized;

  // The quantized weight of block `layer`'s linear `key`, or nullptr when that
  // linear stayed float (then model.blocks[layer]'s Linear holds it).
  const QuantizedMatrix* find(int layer, std::string_view key) const;
  int64_t quantized_bytes() const;  // packed codes and constants
  int64_t float_bytes() const;      // every float32 tensor still in `model`
};

// The seven linears of a decoder block, by module key, in checkpoint order.
const std::vector<std::string>& linear_keys();
Linear& block_linear(DecoderBlock& block, std::string_view key);
const Linear& block_linear(const DecoderBlock& block, std::string_view key);

// Quantizes every decoder-block linear whose input size allows it, freeing
// each float weight as soon as it is packed. Throws InvalidInput for an
// invalid config or when no linear at all can be quantized.
QuantizedModel quantize_model(Model model, const QuantizationConfig& config);

// The quantization of Model::random(config, seed), built one linear at a time
// so the float weights of the whole model are never held at once.
QuantizedModel random_quantized_model(const ModelConfig& config, uint64_t seed, const QuantizationConfig& quantization);

// Reads a quantized model folder (config.json with `quantization`): ours, or
// an affine one written by mlx-lm (whose quantized embeddings and head are
// dequantized to float32 here). Checks every tensor's dtype and shape.
QuantizedModel load_quantized_model(const std::filesystem::path& folder);

// Writes config.json and model.safetensors into `folder` (created if needed).
// Tokenizer files are the caller's business (see copy_tokenizer_files).
void save_quantized_model(const QuantizedModel& model, const std::filesystem::path& folder);

// Copies tokenizer and generation files (tokenizer.model, tokenizer.json,
// tokenizer_config.json, special_tokens_map.json, added_tokens.json,
// generation_config.json) that exist in `from` into `to`.
void copy_tokenizer_files(const std::filesystem::path& from, const std::filesystem::path& to);

// A plain float model: every quantized linear dequantized.
Model dequantize_model(QuantizedModel model);

// Any model folder as a float Model: quantized folders are dequantized, plain
// ones go through Model::load (16-bit weights kept 16-bit). For eval, generate and fuse.
Model load_model_dequantized(const std::filesystem::path& folder);

}  // namespace lorafarm::engine
