// A LLaMA-family causal language model in memory: its config and float32
// weights (fp16/bf16 checkpoints are widened on load).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "engine/linear.h"
#include "engine/model_config.h"
#include "engine/tensor.h"

namespace lorafarm::engine {

struct DecoderBlock {
  Vector input_norm;           // (hidden)
  Vector post_attention_norm;  // (hidden)
  Linear q_proj, k_proj, v_proj, o_proj;
  Linear gate_proj, up_proj, down_proj;
};

struct Model {
  ModelConfig config;
  Matrix embed_tokens;  // (vocab, hidden)
  std::vector<DecoderBlock> blocks;
  Vector final_norm;    // (hidden)
  Matrix lm_head;       // (vocab, hidden); empty when tied to embed_tokens

  const Matrix& head() const { return config.tie_word_embeddings ? embed_tokens : lm_head; }

  // Loads config.json and the safetensors weights of a HF model folder.
  // Checks every tensor's presence and shape against the config.
  static Model load(const std::filesystem::path& folder);
  // Weights drawn from N(0, 0.02²) (norms at 1), for benchmarks and tests.
  static Model random(const ModelConfig& config, uint64_t seed);

  int64_t parameter_count() const;
};

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
