// A LLaMA-family causal language model in memory: its config and weights,
// float32, or (frozen, on request) kept in the checkpoint's bf16/fp16.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "engine/half_matrix.h"
#include "engine/linear.h"
#include "engine/model_config.h"
#include "engine/safetensors.h"
#include "engine/tensor.h"

namespace lorafarm::engine {

// Norm weights are stored as the checkpoint holds them (Gemma's as w of its
// (1 + w) form; engine/norms.h gives the scale applied).
struct DecoderBlock {
  Vector input_norm;           // (hidden)
  // The norm before the MLP (hidden): HF's post_attention_layernorm, and
  // Gemma's pre_feedforward_layernorm.
  Vector post_attention_norm;
  Linear q_proj, k_proj, v_proj, o_proj;
  Linear gate_proj, up_proj, down_proj;
  Vector q_norm, k_norm;  // (head_dim) when config.qk_norm
  // Gemma's norms of the attention and MLP outputs (hidden) when
  // config.sandwich_norms: post_attention_layernorm, post_feedforward_layernorm.
  Vector attention_out_norm, mlp_out_norm;
};

// How Model::load stores a 16-bit checkpoint's matrices.
struct LoadOptions {
  // Keep bf16/fp16 embeddings, head and linear weights in that dtype (for
  // frozen weights: LoRA/DoRA/QLoRA bases, eval, generate). Norms, biases and
  // float32 checkpoints are float32 either way.
  bool keep_16bit = false;
};

struct Model {
  ModelConfig config;
  Matrix embed_tokens;  // (vocab, hidden); empty when kept 16-bit
  std::vector<DecoderBlock> blocks;
  Vector final_norm;    // (hidden)
  Matrix lm_head;       // (vocab, hidden); empty when tied to embed_tokens or kept 16-bit
  HalfMatrix embed_tokens_half, lm_head_half;  // the 16-bit forms, when kept
  // Gemma: looked-up embeddings × √hidden, that factor rounded to the
  // embedding's checkpoint dtype as transformers computes it; 1 otherwise.
  float embed_scale = 1.0f;

  // The float32 head (empty when kept 16-bit: see head_weights()).
  const Matrix& head() const { return config.tie_word_embeddings ? embed_tokens : lm_head; }
  // The head as a product operand, in whichever form it is kept.
  WeightRef head_weights() const;
  // Row `id` of the embedding as float32 (unscaled), into `out` (hidden values).
  void embedding_row(int64_t id, float* out) const;
  // Makes every 16-bit matrix float32 (full fine-tuning trains them).
  void widen();
  bool has_16bit() const;

  // Loads config.json and the safetensors weights of a HF model folder.
  // Checks every tensor's presence and shape against the config.
  static Model load(const std::filesystem::path& folder, const LoadOptions& options = {});
  // Weights drawn from N(0, 0.02²) (norms at 1), for benchmarks and tests.
  static Model random(const ModelConfig& config, uint64_t seed);

  int64_t parameter_count() const;
};

// √hidden_size rounded to `dtype` (F32, BF16 or F16) when the config scales
// embeddings, else 1.
float embedding_scale(const ModelConfig& config, DType dtype);

// The checkpoint names of a block's norms (with the "model.layers.N." prefix
// left off): the pre-MLP norm is pre_feedforward_layernorm in Gemma.
const char* mlp_norm_name(const ModelConfig& config);
inline constexpr const char* kAttentionOutNormName = "post_attention_layernorm.weight";
inline constexpr const char* kMlpOutNormName = "post_feedforward_layernorm.weight";
inline constexpr const char* kQNormName = "self_attn.q_norm.weight";
inline constexpr const char* kKNormName = "self_attn.k_norm.weight";

// A block's norm weights under their checkpoint names (after "model.layers.N."),
// with their sizes: the two every family has, then the family's extras.
template <typename V>  // Vector, or const Vector for a const block
struct BasicNormSlot {
  const char* name;
  V* weight;
  int64_t size;
};
using NormSlot = BasicNormSlot<Vector>;
using ConstNormSlot = BasicNormSlot<const Vector>;
std::vector<NormSlot> block_norm_slots(const ModelConfig& config, DecoderBlock& block);
std::vector<ConstNormSlot> block_norm_slots(const ModelConfig& config, const DecoderBlock& block);

// The weight draws of Model::random, N(0, 0.02²) from a seeded generator, for
// code that must reproduce them exactly (e.g. a quantized random model built
// one layer at a time).
class RandomWeights {
 public:
  explicit RandomWeights(uint64_t seed);
  ~RandomWeights();
  Matrix matrix(int64_t rows, int64_t cols);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Bytes of each dtype stored in a model folder's checkpoint ("F32" -> bytes).
std::vector<std::pair<std::string, int64_t>> checkpoint_bytes_by_dtype(const std::filesystem::path& folder);

}  // namespace lorafarm::engine
