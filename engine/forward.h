// The LLaMA-family forward pass: embedding, N × (RMSNorm → GQA attention with
// RoPE → residual, RMSNorm → gated MLP → residual), final RMSNorm, head, with
// each family's switches (q/k norms, sandwich norms, soft-capping, ...).
#pragma once

#include <span>
#include <vector>

#include "engine/error.h"
#include "engine/layer_rope.h"
#include "engine/model.h"
#include "engine/ops.h"
#include "engine/tokenizer.h"

namespace lorafarm::engine {

// Sequences right-padded to a common length: ids (batch · length) row-major.
// Padding sits after each sequence's last token, so causal attention never
// lets it reach a real position.
struct TokenBatch {
  int batch = 0;
  int length = 0;
  std::vector<TokenId> ids;
  std::vector<int> lengths;  // real tokens per sequence

  static TokenBatch from_sequences(std::span<const std::vector<TokenId>> sequences, TokenId pad = 0);
  TokenId at(int b, int t) const { return ids[static_cast<std::size_t>(b) * length + t]; }
};

// Logits for every position: (batch · length, vocab), row b·length + t.
Matrix forward(const Model& model, const TokenBatch& batch);

// Keys and values of past positions, per block, for incremental decoding.
class KvCache {
 public:
  KvCache(const ModelConfig& config, int capacity);
  int size() const { return size_; }
  int capacity() const { return capacity_; }

 private:
  friend Matrix forward_incremental(const Model&, std::span<const TokenId>, KvCache&);
  int size_ = 0;
  int capacity_ = 0;
  std::vector<Matrix> keys;    // per block: (capacity, kv_heads · head_dim), after RoPE
  std::vector<Matrix> values;
  LayerRopes ropes;
};

// Runs `tokens` after the cached positions; returns the logits of the last
// token (1, vocab). Throws InvalidInput when the cache's capacity would overflow.
Matrix forward_incremental(const Model& model, std::span<const TokenId> tokens, KvCache& cache);

}  // namespace lorafarm::engine
