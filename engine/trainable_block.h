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

struct TrainableModel::BlockCache {
  Matrix x;  // block input
  Matrix normed1, q, k, v, attended, h, normed2, gate, up, act;
  Vector inv1, inv2;
  Matrix q_raw, k_raw;      // before the per-head q/k norms
  Vector q_inv, k_inv;
  Matrix attention_out, mlp_out;  // before Gemma's output norms
  Vector attention_out_inv, mlp_out_inv;
  std::array<AdaptedLinear::Cache, 7> lin;
  std::vector<std::vector<Matrix>> probs;  // [sequence][head] softmax (n, n)
};

// The dropout seed of one layer of one block.
inline uint64_t layer_seed(uint64_t seed, int block, Module m) {
  return seed * 0x100000001B3ull + static_cast<uint64_t>(block) * 7 + static_cast<uint64_t>(m) + 1;
}

}  // namespace lorafarm::engine
