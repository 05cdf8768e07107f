// One decoder block of a TrainableModel: the forward that keeps what backward
// needs, and the analytic backward, with each family's switches.
#include <algorithm>

#include "engine/activation.h"
#include "engine/norms.h"
#include "engine/ops.h"
#include "engine/ops_backward.h"
#include "engine/trainable_block.h"

namespace lorafarm::engine {

void TrainableModel::block_norm(const Vector& weight, const Matrix& in, Matrix& out, Vector* inv) const {
  const ModelConfig& c = model_->config;
  rms_norm(in, norm_scale(c, weight), static_cast<float>(c.rms_norm_eps), out, inv);
}

void TrainableModel::block_norm_backward(const Vector& weight, const Matrix& in, const Vector& inv, const Matrix& dy,
                                         Matrix& dx, Vector& grad) const {
  rms_norm_backward(in, norm_scale(model_->config, weight), inv, dy, dx, grad.size() > 0 ? &grad : nullptr);
}

// q and k in place: the per-head norms (q/k-norm families), then RoPE.
void TrainableModel::finish_qk(int block, const Context& ctx, BlockCache& bc) const {
  const ModelConfig& c = model_->config;
  const DecoderBlock& b = model_->blocks[static_cast<std::size_t>(block)];
  if (c.qk_norm) {
    const auto eps = static_cast<float>(c.rms_norm_eps);
    head_rms_norm(bc.q, c.num_heads, norm_scale(c, b.q_norm), eps, &bc.q_inv);
    head_rms_norm(bc.k, c.num_kv_heads, norm_scale(c, b.k_norm), eps, &bc.k_inv);
  }
  if (const RopeTable* rope = ctx.ropes.for_layer(c, block)) {
    apply_rope(bc.q, c.num_heads, *rope, ctx.positions);
    apply_rope(bc.k, c.num_kv_heads, *rope, ctx.positions);
  }
}

// bc.attended from bc.q, k, v, sequence by sequence (and bc.probs when asked).
void TrainableModel::attend(int block, const Context& ctx, BlockCache& bc, bool keep_probs) const {
  const ModelConfig& c = model_->config;
  const TrainBatch& batch = ctx.batch;
  bc.attended.resize(bc.q.rows(), bc.q.cols());
  if (keep_probs) bc.probs.assign(static_cast<std::size_t>(batch.batch), {});
  Matrix out;
  for (int s = 0; s < batch.batch; ++s) {
    const Eigen::Index row = static_cast<Eigen::Index>(s) * batch.length;
    causal_attention(bc.q.middleRows(row, batch.length), bc.k.middleRows(row, batch.length),
                     bc.v.middleRows(row, batch.length), c.num_heads, c.num_kv_heads, 0, c.attention_window(block), out,
                     keep_probs ? &bc.probs[static_cast<std::size_t>(s)] : nullptr, score_options(c));
    bc.attended.middleRows(row, batch.length) = out;
  }
}

// From bc.x: q, k, v (normed per head, rotated), attention, o_proj (normed in
// Gemma's sandwich) into bc.attention_out; the caller adds the residual. A
// lean forward drops what backward rebuilds (see BlockCache).
void TrainableModel::attention_forward(int block, const Context& ctx, BlockCache& bc, bool keep,
                                       std::optional<uint64_t> seed) const {
  const ModelConfig& c = model_->config;
  const DecoderBlock& b = model_->blocks[static_cast<std::size_t>(block)];
  auto run = [&](Module m, const Matrix& in, Matrix& out) {
    const std::optional<uint64_t> s = seed ? std::optional(layer_seed(*seed, block, m)) : std::nullopt;
    layer(block, m).forward(in, out, keep ? &bc.lin[m] : nullptr, s);
  };
  const bool lean = keep && bc.lean;
  block_norm(b.input_norm, bc.x, bc.normed1, &bc.inv1);
  run(kQ, bc.normed1, bc.q);
  run(kK, bc.normed1, bc.k);
  run(kV, bc.normed1, bc.v);
  if (lean) bc.normed1 = Matrix();
  if (keep && c.qk_norm) {
    bc.q_raw = bc.q;
    bc.k_raw = bc.k;
  }
  finish_qk(block, ctx, bc);
  attend(block, ctx, bc, keep && !lean);
  run(kO, bc.attended, bc.attention_out);
  if (!lean) return;
  bc.attended = Matrix();
  if (c.qk_norm) {  // rebuilt from q_raw, k_raw
    bc.q = Matrix();
    bc.k = Matrix();
  }
}

// x += the MLP branch of x (normed output in Gemma's sandwich).
void TrainableModel::mlp_forward(int block, Matrix& x, BlockCache& bc, bool keep, std::optional<uint64_t> seed) const {
  const ModelConfig& c = model_->config;
  const DecoderBlock& b = model_->blocks[static_cast<std::size_t>(block)];
  auto run = [&](Module m, const Matrix& in, Matrix& out) {
    const std::optional<uint64_t> s = seed ? std::optional(layer_seed(*seed, block, m)) : std::nullopt;
    layer(block, m).forward(in, out, keep ? &bc.lin[m] : nullptr, s);
  };
  const bool lean = keep && bc.lean;
  if (keep) bc.h = x;
  block_norm(b.post_attention_norm, x, bc.normed2, &bc.inv2);
  run(kGate, bc.normed2, bc.gate);
  run(kUp, bc.normed2, bc.up);
  if (lean) bc.normed2 = Matrix();
  gated_activation(c.activation, bc.gate, bc.up, bc.act);
  run(kDown, bc.act, bc.mlp_out);
  if (lean) bc.act = Matrix();
  if (!c.sandwich_norms) {
    x += bc.mlp_out;
    bc.mlp_out = Matrix();  // only Gemma's output norm needs it in backward
    return;
  }
  Matrix normed;
  block_norm(b.mlp_out_norm, bc.mlp_out, normed, &bc.mlp_out_inv);
  x += normed;
}

void TrainableModel::block_forward(int block, const Context& ctx, Matrix& x, BlockCache* cache,
                                   std::optional<uint64_t> seed) const {
  const DecoderBlock& b = model_->blocks[static_cast<std::size_t>(block)];
  BlockCache local;
  BlockCache& bc = cache ? *cache : local;
  bc.x = x;
  attention_forward(block, ctx, bc, cache != nullptr, seed);
  if (model_->config.sandwich_norms) {
    Matrix normed;
    block_norm(b.attention_out_norm, bc.attention_out, normed, &bc.attention_out_inv);
    x += normed;
  } else {
    x += bc.attention_out;
    bc.attention_out = Matrix();  // only Gemma's output norm needs it in backward
  }
  mlp_forward(block, x, bc, cache != nullptr, seed);
}

// dq, dk, dv (before the q/k projections) from dL/d(the attention branch).
// Each activation is released as soon as its last use is past.
void TrainableModel::attention_backward(int block, const Context& ctx, BlockCache& bc, const Matrix& d_branch,
                                        Matrix& dq, Matrix& dk, Matrix& dv) {
  const ModelConfig& c = model_->config;
  const DecoderBlock& b = model_->blocks[static_cast<std::size_t>(block)];
  NormGrads* grads = norm_grads_.empty() ? nullptr : &norm_grads_[static_cast<std::size_t>(block)];
  Vector none;
  const Eigen::Index rows = d_branch.rows();
  Matrix d_normed_out;
  if (c.sandwich_norms) {
    block_norm_backward(b.attention_out_norm, bc.attention_out, bc.attention_out_inv, d_branch, d_normed_out,
                        grads ? grads->attention_out : none);
  }
  if (bc.lean) {  // rebuild q, k (q/k-norm families), the probabilities and attention's output
    if (c.qk_norm) {
      bc.q = bc.q_raw;
      bc.k = bc.k_raw;
      finish_qk(block, ctx, bc);
    }
    attend(block, ctx, bc, true);
  }
  Matrix d_att = Matrix::Zero(rows, bc.attended.cols());
  layer(block, kO).backward(bc.attended, bc.lin[kO], c.sandwich_norms ? d_normed_out : d_branch, &d_att);
  bc.attended = Matrix();
  dq.resize(rows, bc.q.cols());
  dk.resize(rows, bc.k.cols());
  dv.resize(rows, bc.v.cols());
  const Eigen::Index n = ctx.batch.length;
  for (int s = 0; s < ctx.batch.batch; ++s) {
    const Eigen::Index row = static_cast<Eigen::Index>(s) * n;
    causal_attention_backward(bc.q.middleRows(row, n), bc.k.middleRows(row, n), bc.v.middleRows(row, n),
                              bc.probs[static_cast<std::size_t>(s)], d_att.middleRows(row, n), c.num_heads,
                              c.num_kv_heads, dq.middleRows(row, n), dk.middleRows(row, n), dv.middleRows(row, n),
                              score_options(c));
  }
  bc.probs.clear();
  bc.q = bc.k = bc.v = Matrix();
  if (const RopeTable* rope = ctx.ropes.for_layer(c, block)) {
    apply_rope_backward(dq, c.num_heads, *rope, ctx.positions);
    apply_rope_backward(dk, c.num_kv_heads, *rope, ctx.positions);
  }
  if (!c.qk_norm) return;
  head_rms_norm_backward(bc.q_raw, c.num_heads, norm_scale(c, b.q_norm), bc.q_inv, dq, grads ? &grads->q : nullptr);
  head_rms_norm_backward(bc.k_raw, c.num_kv_heads, norm_scale(c, b.k_norm), bc.k_inv, dk, grads ? &grads->k : nullptr);
}

// dh = dL/d(the residual entering the MLP) from dL/d(block output). A lean
// forward's gated activation and norm output are rebuilt here.
void TrainableModel::mlp_backward(int block, BlockCache& bc, const Matrix& d_out, Matrix& dh) {
  const ModelConfig& c = model_->config;
  const DecoderBlock& b = model_->blocks[static_cast<std::size_t>(block)];
  NormGrads* grads = norm_grads_.empty() ? nullptr : &norm_grads_[static_cast<std::size_t>(block)];
  Vector none;
  const Eigen::Index rows = d_out.rows();
  Matrix d_normed_out;
  if (c.sandwich_norms) {
    block_norm_backward(b.mlp_out_norm, bc.mlp_out, bc.mlp_out_inv, d_out, d_normed_out, grads ? grads->mlp_out : none);
  }
  if (bc.lean) gated_activation(c.activation, bc.gate, bc.up, bc.act);
  Matrix d_act = Matrix::Zero(rows, bc.act.cols());
  layer(block, kDown).backward(bc.act, bc.lin[kDown], c.sandwich_norms ? d_normed_out : d_out, &d_act);
  bc.act = Matrix();
  Matrix d_gate, d_up;
  gated_activation_backward(c.activation, bc.gate, bc.up, d_act, d_gate, d_up);
  d_act = Matrix();
  bc.gate = bc.up = Matrix();
  if (bc.lean) block_norm(b.post_attention_norm, bc.h, bc.normed2, &bc.inv2);
  Matrix d_normed = Matrix::Zero(rows, c.hidden_size);
  layer(block, kGate).backward(bc.normed2, bc.lin[kGate], d_gate, &d_normed);
  layer(block, kUp).backward(bc.normed2, bc.lin[kUp], d_up, &d_normed);
  bc.normed2 = Matrix();
  block_norm_backward(b.post_attention_norm, bc.h, bc.inv2, d_normed, dh, grads ? grads->mlp : none);
  dh += d_out;
}

void TrainableModel::block_backward(int block, const Context& ctx, BlockCache& bc, const Matrix& d_out, Matrix* dx) {
  const ModelConfig& c = model_->config;
  const DecoderBlock& b = model_->blocks[static_cast<std::size_t>(block)];
  NormGrads* grads = norm_grads_.empty() ? nullptr : &norm_grads_[static_cast<std::size_t>(block)];
  Vector none;
  Matrix dh;
  mlp_backward(block, bc, d_out, dh);
  Matrix dq, dk, dv;
  attention_backward(block, ctx, bc, dh, dq, dk, dv);
  if (bc.lean) block_norm(b.input_norm, bc.x, bc.normed1, &bc.inv1);
  if (!dx) {  // nothing upstream trains: only this block's adapter gradients are needed
    layer(block, kQ).backward(bc.normed1, bc.lin[kQ], dq, nullptr);
    layer(block, kK).backward(bc.normed1, bc.lin[kK], dk, nullptr);
    layer(block, kV).backward(bc.normed1, bc.lin[kV], dv, nullptr);
    return;
  }
  Matrix d_normed = Matrix::Zero(d_out.rows(), c.hidden_size);
  layer(block, kQ).backward(bc.normed1, bc.lin[kQ], dq, &d_normed);
  layer(block, kK).backward(bc.normed1, bc.lin[kK], dk, &d_normed);
  layer(block, kV).backward(bc.normed1, bc.lin[kV], dv, &d_normed);
  block_norm_backward(b.input_norm, bc.x, bc.inv1, d_normed, *dx, grads ? grads->input : none);
  *dx += dh;
}

}  // namespace lorafarm::engine
