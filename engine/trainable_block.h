// TrainableModel's per-step context and what a block's backward keeps from
// its forward (shared by trainable_model.cpp and trainable_block.cpp).
#pragma once

#include <array>
#include <vector>

#include "engine/layer_rope.h"
#include "engine/trainable_model.h"

namespace lorafarm::engine {

struct TrainableModel::Context {
  const TrainBatch& batch;
  LayerRopes ropes;
  std::vector<int> positions;

  Context(const ModelConfig& c, const TrainBatch& b) : batch(b) {
    ropes = make_layer_ropes(c, std::max(b.length, 1));
    positions.resize(b.inputs.size());
    for (std::size_t i = 0; i < positions.size(); ++i) positions[i] = static_cast<int>(i % b.length);
  }
};

// What a block's backward needs from its forward. Kept: what only a GEMM
// could rebuild. The rest (norm outputs, q/k after their per-head norms,
// attention's probabilities and output, the gated activation) is dropped by a
// lean forward and rebuilt in backward, one block at a time, by the same code
// on the same inputs: the gradients are bit-identical either way.
struct TrainableModel::BlockCache {
  bool lean = true;  // false: the forward keeps everything (a checkpointed block's re-forward)
  // Kept.
  Matrix x;           // block input
  Matrix q, k, v;     // after the q/k norms and RoPE (q, k dropped by a lean forward when q_raw, k_raw are kept)
  Matrix h;           // the residual after attention: the MLP norm's input
  Matrix gate, up;
  Matrix q_raw, k_raw;  // before the per-head q/k norms
  Matrix attention_out, mlp_out;  // before Gemma's output norms
  Vector attention_out_inv, mlp_out_inv;
  std::array<AdaptedLinear::Cache, 7> lin;
  // Rebuilt in backward after a lean forward.
  Matrix normed1, attended, normed2, act;
  Vector inv1, inv2, q_inv, k_inv;
  std::vector<std::vector<Matrix>> probs;  // [sequence][head] softmax (n, n)
};

// The dropout seed of one layer of one block.
inline uint64_t layer_seed(uint64_t seed, int block, Module m) {
  return seed * 0x100000001B3ull + static_cast<uint64_t>(block) * 7 + static_cast<uint64_t>(m) + 1;
}

}  // namespace lorafarm::engine
