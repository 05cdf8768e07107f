// Backward passes of the forward kernels in ops.h, plus the cross-entropy
// head. Each takes the upstream gradient dL/dy and what the forward saved,
// and returns (or accumulates) dL/dx and the parameter gradients.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/gemm.h"
#include "engine/ops.h"
#include "engine/tensor.h"
#include "engine/tokenizer.h"

namespace lorafarm::engine {

// y = x · r ⊙ w with r = 1/√(mean(x²)+eps) per row. Given dy:
//   dw += Σ_rows dy ⊙ x·r
//   dx  = r·g − r³·x·(g·x)/n   with g = dy ⊙ w.
// `weight_grad` may be null (frozen norm).
void rms_norm_backward(const Matrix& x, const Vector& weight, const Vector& inv_rms, const Matrix& dy, Matrix& dx,
                       Vector* weight_grad);

// RoPE is a rotation per (position, pair), so its backward is the inverse
// rotation of the gradient, in place.
void apply_rope_backward(Matrix& grad, int heads, const RopeTable& table, std::span<const int> positions);

// Backward of causal_attention for one sequence (q_start = 0, L = n), with the
// softmax probabilities the forward saved (one (n, n) matrix per head).
// S = q kᵀ/√d, P = softmax(S), O = P v:
//   dv = Pᵀ dO,  dP = dO vᵀ,  dS = P ⊙ (dP − rowsum(dP ⊙ P)),
//   dq = dS k/√d,  dk = dSᵀ q/√d;  GQA sums dk, dv over the heads sharing a kv head.
// With a soft cap c, S = c·tanh(Z/c) for Z = q kᵀ·scale, so dZ = dS ⊙ (1 − tanh²(Z/c)).
void causal_attention_backward(Eigen::Ref<const Matrix> q, Eigen::Ref<const Matrix> k, Eigen::Ref<const Matrix> v,
                               const std::vector<Matrix>& probs, Eigen::Ref<const Matrix> d_out, int heads,
                               int kv_heads, Eigen::Ref<Matrix> dq, Eigen::Ref<Matrix> dk, Eigen::Ref<Matrix> dv,
                               const ScoreOptions& scores = {});

// a = silu(g) ⊙ u: du = da ⊙ silu(g), dg = da ⊙ u ⊙ σ(g)(1 + g(1 − σ(g))).
void swiglu_backward(const Matrix& gate, const Matrix& up, const Matrix& d_act, Matrix& d_gate, Matrix& d_up);

// head_cross_entropy computes logits this many rows at a time, and from this
// many chunks on, under bf16 products, packs the head once for all of them.
inline constexpr Eigen::Index kHeadChunkRows = 128;
inline constexpr Eigen::Index kHeadChunksToPrepack = 4;

// Masked next-token cross-entropy through the head: logits = x Hᵀ (soft-capped
// to c·tanh(logits/c) when softcap > 0, Gemma 2's final_logit_softcapping), row r
// predicts targets[r] when weights[r] != 0 (signed: DPO weighs each
// sequence by its loss derivative). Returns Σ weights[r]·CE_r (nats,
// accumulated in double). When dx is given, also computes
// dx = Σ_r loss_scale·weights[r]·(softmax_r − onehot_r) H  (and dH += its
// transpose product with x when head_grad is given). Rows are processed in
// chunks so the full (rows, vocab) logits never exist at once.
double head_cross_entropy(const Matrix& x, const WeightRef& head, std::span<const TokenId> targets,
                          std::span<const float> weights, float loss_scale, Matrix* dx, Matrix* head_grad,
                          float softcap = 0);

// dE[ids[r]] += dx[r] (the embedding's backward: a scatter-add of rows).
void embedding_backward(std::span<const TokenId> ids, const Matrix& dx, Matrix& embedding_grad);

}  // namespace lorafarm::engine
