// Batch forward pass and incremental (KV-cached) decoding.
#include "engine/forward.h"

#include <algorithm>
#include <numeric>

#include "engine/error.h"
#include "engine/activation.h"
#include "engine/gemm.h"
#include "engine/norms.h"

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
    model.embedding_row(id, x.row(static_cast<Eigen::Index>(i)).data());
  }
  x *= model.embed_scale;
  return x;
}

// RMSNorm with the block's weight in the family's form.
void norm(const Model& model, const Vector& weight, const Matrix& x, Matrix& y) {
  rms_norm(x, norm_scale(model.config, weight), static_cast<float>(model.config.rms_norm_eps), y);
}

// q, k, v of block `layer` from the normed input: projections, per-head q/k
// norms, then the layer's RoPE (if any).
void attention_inputs(const Model& model, int layer, const Matrix& normed, const RopeTable* rope,
                      std::span<const int> positions, Matrix& q, Matrix& k, Matrix& v) {
  const ModelConfig& c = model.config;
  const DecoderBlock& block = model.blocks[static_cast<std::size_t>(layer)];
  block.q_proj.forward(normed, q);
  block.k_proj.forward(normed, k);
  block.v_proj.forward(normed, v);
  if (c.qk_norm) {
    const auto eps = static_cast<float>(c.rms_norm_eps);
    head_rms_norm(q, c.num_heads, norm_scale(c, block.q_norm), eps);
    head_rms_norm(k, c.num_kv_heads, norm_scale(c, block.k_norm), eps);
  }
  if (!rope) return;
  apply_rope(q, c.num_heads, *rope, positions);
  apply_rope(k, c.num_kv_heads, *rope, positions);
}

// x += o_proj(attended), normed first in Gemma's sandwich.
void attention_residual(const Model& model, const DecoderBlock& block, const Matrix& attended, Matrix& x) {
  Matrix out;
  block.o_proj.forward(attended, out);
  if (model.config.sandwich_norms) {
    Matrix normed;
    norm(model, block.attention_out_norm, out, normed);
    out = std::move(normed);
  }
  x += out;
}

// The MLP half of a block, residual included: x += down(act(gate(n)) ⊙ up(n)),
// the output normed first in Gemma's sandwich.
void mlp_residual(const Model& model, const DecoderBlock& block, Matrix& x) {
  Matrix normed, gate, up, act, out;
  norm(model, block.post_attention_norm, x, normed);
  block.gate_proj.forward(normed, gate);
  block.up_proj.forward(normed, up);
  gated_activation(model.config.activation, gate, up, act);
  block.down_proj.forward(act, out);
  if (model.config.sandwich_norms) {
    norm(model, block.mlp_out_norm, out, normed);
    out = std::move(normed);
  }
  x += out;
}

Matrix head_logits(const Model& model, const Matrix& x) {
  Matrix normed;
  norm(model, model.final_norm, x, normed);
  Matrix logits;
  weight_matmul(normed, false, model.head_weights(), true, logits);
  const auto cap = static_cast<float>(model.config.final_logit_softcapping);
  if (cap > 0) logits = cap * (logits / cap).array().tanh();
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
  const LayerRopes ropes = make_layer_ropes(c, std::max(batch.length, 1));
  std::vector<int> positions(batch.ids.size());
  for (std::size_t i = 0; i < positions.size(); ++i) positions[i] = static_cast<int>(i % batch.length);

  Matrix x = embed(model, batch.ids);
  Matrix normed, q, k, v, attended;
  for (int i = 0; i < c.num_layers; ++i) {
    const DecoderBlock& block = model.blocks[static_cast<std::size_t>(i)];
    norm(model, block.input_norm, x, normed);
    attention_inputs(model, i, normed, ropes.for_layer(c, i), positions, q, k, v);
    batched_causal_attention(q, k, v, c.num_heads, c.num_kv_heads, batch.length, batch.lengths, c.attention_window(i),
                             attended, score_options(c));
    attention_residual(model, block, attended, x);
    mlp_residual(model, block, x);
  }
  return head_logits(model, x);
}

KvCache::KvCache(const ModelConfig& config, int capacity) : capacity_(capacity) {
  const Eigen::Index kv = static_cast<Eigen::Index>(config.num_kv_heads) * config.head_dim;
  for (int i = 0; i < config.num_layers; ++i) {
    keys.emplace_back(capacity, kv);
    values.emplace_back(capacity, kv);
  }
  ropes = make_layer_ropes(config, capacity);
}

Matrix forward_incremental(const Model& model, std::span<const TokenId> tokens, KvCache& cache) {
  const ModelConfig& c = model.config;
  const int start = cache.size_;
  const int n = static_cast<int>(tokens.size());
  if (start + n > cache.capacity_) {
    throw InvalidInput(std::to_string(start + n) + " tokens exceed the context of " +
                       std::to_string(cache.capacity_) + " positions");
  }
  std::vector<int> positions(static_cast<std::size_t>(n));
  std::iota(positions.begin(), positions.end(), start);

  Matrix x = embed(model, tokens);
  Matrix normed, q, k, v, attended;
  for (int i = 0; i < c.num_layers; ++i) {
    const auto layer = static_cast<std::size_t>(i);
    const DecoderBlock& block = model.blocks[layer];
    norm(model, block.input_norm, x, normed);
    attention_inputs(model, i, normed, cache.ropes.for_layer(c, i), positions, q, k, v);
    cache.keys[layer].middleRows(start, n) = k;
    cache.values[layer].middleRows(start, n) = v;
    causal_attention(q, cache.keys[layer].topRows(start + n),
                     cache.values[layer].topRows(start + n), c.num_heads, c.num_kv_heads, start, c.attention_window(i),
                     attended, nullptr, score_options(c));
    attention_residual(model, block, attended, x);
    mlp_residual(model, block, x);
  }
  cache.size_ = start + n;
  return head_logits(model, x.bottomRows(1));
}

}  // namespace lorafarm::engine
