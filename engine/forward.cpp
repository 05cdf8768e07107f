// Batch forward pass and incremental (KV-cached) decoding.
#include "engine/forward.h"

#include <algorithm>
#include <numeric>

#include "engine/error.h"
#include "engine/gemm.h"

namespace lorafarm::engine {
namespace {

Matrix embed(const Model& model, std::span<const TokenId> ids) {
  Matrix x(static_cast<Eigen::Index>(ids.size()), model.config.hidden_size);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const TokenId id = ids[i];
    if (id < 0 || id >= model.config.vocab_size) {
      throw InvalidInput("token id " + std::to_string(id) + " is outside the vocabulary (size " +
                         std::to_string(model.config.vocab_size) + ")");
    }
    x.row(static_cast<Eigen::Index>(i)) = model.embed_tokens.row(id);
  }
  return x;
}

// The MLP half of a block, residual included: x += down(silu(gate(n)) ⊙ up(n)).
void mlp_residual(const DecoderBlock& block, float eps, Matrix& x) {
  Matrix normed, gate, up, act, out;
  rms_norm(x, block.post_attention_norm, eps, normed);
  block.gate_proj.forward(normed, gate);
  block.up_proj.forward(normed, up);
  swiglu(gate, up, act);
  block.down_proj.forward(act, out);
  x += out;
}

Matrix head_logits(const Model& model, const Matrix& x) {
  Matrix normed;
  rms_norm(x, model.final_norm, static_cast<float>(model.config.rms_norm_eps), normed);
  Matrix logits;
  matmul(normed, false, model.head(), true, logits);
  return logits;
}

}  // namespace

TokenBatch TokenBatch::from_sequences(std::span<const std::vector<TokenId>> sequences, TokenId pad) {
  TokenBatch batch;
  batch.batch = static_cast<int>(sequences.size());
  for (const auto& s : sequences) batch.length = std::max(batch.length, static_cast<int>(s.size()));
  batch.ids.assign(static_cast<std::size_t>(batch.batch) * batch.length, pad);
  for (int b = 0; b < batch.batch; ++b) {
    const auto& s = sequences[static_cast<std::size_t>(b)];
    std::copy(s.begin(), s.end(), batch.ids.begin() + static_cast<std::ptrdiff_t>(b) * batch.length);
    batch.lengths.push_back(static_cast<int>(s.size()));
  }
  return batch;
}

Matrix forward(const Model& model, const TokenBatch& batch) {
  const ModelConfig& c = model.config;
  if (batch.length > c.max_position_embeddings) {
    throw InvalidInput("sequence of " + std::to_string(batch.length) + " tokens exceeds the model's context of " +
                       std::to_string(c.max_position_embeddings));
  }
  const float eps = static_cast<float>(c.rms_norm_eps);
  const RopeTable rope = make_rope_table(c, std::max(batch.length, 1));
  std::vector<int> positions(batch.ids.size());
  for (std::size_t i = 0; i < positions.size(); ++i) positions[i] = static_cast<int>(i % batch.length);

  Matrix x = embed(model, batch.ids);
  Matrix normed, q, k, v, attended, out;
  for (std::size_t i = 0; i < model.blocks.size(); ++i) {
    const DecoderBlock& block = model.blocks[i];
    rms_norm(x, block.input_norm, eps, normed);
    block.q_proj.forward(normed, q);
    block.k_proj.forward(normed, k);
    block.v_proj.forward(normed, v);
    apply_rope(q, c.num_heads, rope, positions);
    apply_rope(k, c.num_kv_heads, rope, positions);
    batched_causal_attention(q, k, v, c.num_heads, c.num_kv_heads, batch.length, batch.lengths,
                             c.attention_window(static_cast<int>(i)), attended);
    block.o_proj.forward(attended, out);
    x += out;
    mlp_residual(block, eps, x);
  }
  return head_logits(model, x);
}

KvCache::KvCache(const ModelConfig& config, int capacity) : capacity_(capacity) {
  const Eigen::Index kv = static_cast<Eigen::Index>(config.num_kv_heads) * config.head_dim;
  for (int i = 0; i < config.num_layers; ++i) {
    keys.emplace_back(capacity, kv);
    values.emplace_back(capacity, kv);
  }
  rope = make_rope_table(config, capacity);
}

Matrix forward_incremental(const Model& model, std::span<const TokenId> tokens, KvCache& cache) {
  const ModelConfig& c = model.config;
  const int start = cache.size_;
  const int n = static_cast<int>(tokens.size());
  if (start + n > cache.capacity_) {
    throw InvalidInput(std::to_string(start + n) + " tokens exceed the context of " +
                       std::to_string(cache.capacity_) + " positions");
  }
  const float eps = static_cast<float>(c.rms_norm_eps);
  std::vector<int> positions(static_cast<std::size_t>(n));
  std::iota(positions.begin(), positions.end(), start);

  Matrix x = embed(model, tokens);
  Matrix normed, q, k, v, attended, out;
  for (std::size_t i = 0; i < model.blocks.size(); ++i) {
    const DecoderBlock& block = model.blocks[i];
    rms_norm(x, block.input_norm, eps, normed);
    block.q_proj.forward(normed, q);
    block.k_proj.forward(normed, k);
    block.v_proj.forward(normed, v);
    apply_rope(q, c.num_heads, cache.rope, positions);
    apply_rope(k, c.num_kv_heads, cache.rope, positions);
    cache.keys[i].middleRows(start, n) = k;
    cache.values[i].middleRows(start, n) = v;
    causal_attention(q, cache.keys[i].topRows(start + n), cache.values[i].topRows(start + n), c.num_heads,
                     c.num_kv_heads, start, c.attention_window(static_cast<int>(i)), attended);
    block.o_proj.forward(attended, out);
    x += out;
    mlp_residual(block, eps, x);
  }
  cache.size_ = start + n;
  return head_logits(model, x.bottomRows(1));
}

}  // namespace lorafarm::engine
