// The forward kernels of a LLaMA-family block as free functions over plain
// matrices. Each says in maths what it computes; the training code pairs them
// with backward functions.
#pragma once

#include <span>
#include <vector>

#include "engine/model_config.h"
#include "engine/tensor.h"

namespace lorafarm::engine {

// y[r] = x[r] / sqrt(mean(x[r]²) + eps) ⊙ weight. Stores 1/rms per row in
// `inv_rms` when given (for backward).
void rms_norm(const Matrix& x, const Vector& weight, float eps, Matrix& y, Vector* inv_rms = nullptr);

// cos/sin of position · inv_freq[i] for every position below max_positions,
// with the config's rope scaling applied to inv_freq.
struct RopeTable {
  int half_dim = 0;
  Matrix cos;  // (max_positions, half_dim)
  Matrix sin;
};
RopeTable make_rope_table(const ModelConfig& config, int max_positions);

// Rotates every head of x (rows, heads·head_dim) in place with the HF
// `rotate_half` convention: for i < d/2, (a, b) = (x[i], x[i+d/2]) becomes
// (a·cos − b·sin, b·cos + a·sin). Row r sits at position positions[r].
// `inverse` applies the transpose rotation (used by backward).
void apply_rope(Matrix& x, int heads, const RopeTable& table, std::span<const int> positions, bool inverse = false);

// How attention scores come from q·k: scaled, then optionally soft-capped.
struct ScoreOptions {
  float scale = 0;    // 0: 1/√head_dim
  float softcap = 0;  // > 0: s → softcap·tanh(s/softcap) before the mask (Gemma 2)
};
ScoreOptions score_options(const ModelConfig& config);

// Grouped-query causal attention for one sequence. q: (n, H·d) at positions
// q_start..q_start+n−1; k, v: (L, KV·d) at positions 0..L−1 (L ≥ q_start+n).
// out[t] = Σ_s softmax_s(q_t·k_s/√d) v_s over s ≤ pos(t) (and s > pos(t) − window
// when window > 0), with √d and capping as `scores` says. `probs` (H, n, L)
// is filled when given (for backward).
void causal_attention(Eigen::Ref<const Matrix> q, Eigen::Ref<const Matrix> k, Eigen::Ref<const Matrix> v, int heads, int kv_heads,
                      int q_start, int window, Matrix& out, std::vector<Matrix>* probs = nullptr,
                      const ScoreOptions& scores = {});

// causal_attention for a right-padded batch: sequence b occupies rows
// b·length .. b·length + lengths[b] − 1; padding rows of `out` are zero.
void batched_causal_attention(const Matrix& q, const Matrix& k, const Matrix& v, int heads, int kv_heads,
                              int length, std::span<const int> lengths, int window, Matrix& out,
                              const ScoreOptions& scores = {});

// silu(g) ⊙ u, elementwise.
void swiglu(const Matrix& gate, const Matrix& up, Matrix& out);

}  // namespace lorafarm::engine
