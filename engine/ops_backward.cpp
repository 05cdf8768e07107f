// Backward kernels: RMSNorm, RoPE, causal GQA attention, SwiGLU, the
// cross-entropy head and the embedding.
#include "engine/ops_backward.h"

#include <algorithm>
#include <cmath>

#include "engine/gemm.h"

namespace lorafarm::engine {

void rms_norm_backward(const Matrix& x, const Vector& weight, const Vector& inv_rms, const Matrix& dy, Matrix& dx,
                       Vector* weight_grad) {
  const auto n = static_cast<float>(x.cols());
  dx.resize(x.rows(), x.cols());
#pragma omp parallel for schedule(static)
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    const float inv = inv_rms(r);
    const auto g = dy.row(r).cwiseProduct(weight.transpose());
    const float dot = g.dot(x.row(r));
    dx.row(r) = inv * g - (inv * inv * inv * dot / n) * x.row(r);
  }
  if (weight_grad) {
    // Σ_r dy[r] ⊙ x[r]·r[r], as one product so it uses the GEMV kernel.
    weight_grad->noalias() += (dy.cwiseProduct(x)).transpose() * inv_rms;
  }
}

void apply_rope_backward(Matrix& grad, int heads, const RopeTable& table, std::span<const int> positions) {
  apply_rope(grad, heads, table, positions, /*inverse=*/true);
}

void causal_attention_backward(Eigen::Ref<const Matrix> q, Eigen::Ref<const Matrix> k, Eigen::Ref<const Matrix> v,
                               const std::vector<Matrix>& probs, Eigen::Ref<const Matrix> d_out, int heads,
                               int kv_heads, Eigen::Ref<Matrix> dq, Eigen::Ref<Matrix> dk, Eigen::Ref<Matrix> dv,
                               const ScoreOptions& scores) {
  const auto d = q.cols() / heads;
  const int group = heads / kv_heads;
  const float scale = scores.scale > 0 ? scores.scale : 1.0f / std::sqrt(static_cast<float>(d));
  const float cap = scores.softcap;
#pragma omp parallel for schedule(static)
  for (int kvh = 0; kvh < kv_heads; ++kvh) {
    const auto kh = k.middleCols(kvh * d, d);
    const auto vh = v.middleCols(kvh * d, d);
    auto dkh = dk.middleCols(kvh * d, d);
    auto dvh = dv.middleCols(kvh * d, d);
    dkh.setZero();
    dvh.setZero();
    Matrix dp;
    for (int h = kvh * group; h < (kvh + 1) * group; ++h) {
      const Matrix& p = probs[static_cast<std::size_t>(h)];
      const auto doh = d_out.middleCols(h * d, d);
      // The products go through gemm (packed kernel, bf16 when on), on this thread.
      gemm(p, true, doh, false, dvh, 1.0f, 1.0f);
      dp.resize(p.rows(), p.cols());
      gemm(doh, false, vh, true, dp);
      // dS = P ⊙ (dP − rowsum(dP ⊙ P)); masked entries have P = 0 and stay 0.
      const Eigen::VectorXf row_dot = dp.cwiseProduct(p).rowwise().sum();
      dp = p.cwiseProduct(dp.colwise() - row_dot);
      if (cap > 0) {  // through the cap: recompute tanh(Z/c) rather than keep it from the forward
        Matrix t(p.rows(), p.cols());  // the same product as the forward's scores
        gemm(q.middleCols(h * d, d), false, kh, true, t, scale / cap);
        dp.array() *= 1.0f - t.array().tanh().square();
      }
      gemm(dp, false, kh, false, dq.middleCols(h * d, d), scale);
      gemm(dp, true, q.middleCols(h * d, d), false, dkh, scale, 1.0f);
    }
  }
}

void swiglu_backward(const Matrix& gate, const Matrix& up, const Matrix& d_act, Matrix& d_gate, Matrix& d_up) {
  d_up.resize(gate.rows(), gate.cols());
  d_gate.resize(gate.rows(), gate.cols());
#pragma omp parallel
  {
    Eigen::Array<float, 1, Eigen::Dynamic> sigmoid(gate.cols());
#pragma omp for schedule(static)
    for (Eigen::Index r = 0; r < gate.rows(); ++r) {
      const auto g = gate.row(r).array();
      const auto da = d_act.row(r).array();
      sigmoid = 1.0f / (1.0f + (-g).exp());
      d_up.row(r).array() = da * g * sigmoid;
      d_gate.row(r).array() = da * up.row(r).array() * sigmoid * (1.0f + g * (1.0f - sigmoid));
    }
  }
}

double head_cross_entropy(const Matrix& x, const WeightRef& head, std::span<const TokenId> targets,
                          std::span<const float> weights, float loss_scale, Matrix* dx, Matrix* head_grad,
                          float softcap) {
  // 128 rows of a 32000-token vocabulary are 16 MB: below glibc's largest
  // mmap threshold, so the buffer is reused from the heap instead of being
  // mapped and faulted in afresh on every call.
  constexpr Eigen::Index kChunk = kHeadChunkRows;
  const Eigen::Index rows = x.rows();
  if (dx) dx->resize(rows, x.cols());
  std::vector<double> row_loss(static_cast<std::size_t>(rows), 0.0);
  // Over four chunks or more, bf16 products round and pack the head once for
  // all of them (PackedWeight stays empty, and costs nothing, otherwise): the
  // copy, as large as 2 × hidden rows of logits, then saves at least 3 packings.
  const bool chunked = (rows + kChunk - 1) / kChunk >= kHeadChunksToPrepack;
  const PackedWeight head_for_logits = chunked ? PackedWeight(head, /*transpose=*/true) : PackedWeight();
  const PackedWeight head_for_dx = chunked && dx ? PackedWeight(head, /*transpose=*/false) : PackedWeight();
  Matrix logits;
  for (Eigen::Index first = 0; first < rows; first += kChunk) {
    const Eigen::Index count = std::min(kChunk, rows - first);
    const auto xc = x.middleRows(first, count);
    logits.resize(count, head.rows);
    weight_gemm(xc, false, head, true, head_for_logits, logits);
#pragma omp parallel for schedule(static)
    for (Eigen::Index i = 0; i < count; ++i) {
      const auto r = static_cast<std::size_t>(first + i);
      auto row = logits.row(i);
      const float w = weights[r];
      if (w == 0) {
        row.setZero();  // no loss, no gradient
        continue;
      }
      Eigen::Array<float, 1, Eigen::Dynamic> slope;  // d capped / d raw, when capped
      if (softcap > 0) {
        row.array() = (row.array() / softcap).tanh();
        slope = 1.0f - row.array().square();
        row *= softcap;
      }
      const float max_logit = row.maxCoeff();
      const float target_logit = row(targets[r]);
      row.array() = (row.array() - max_logit).exp();
      const float sum = row.sum();
      row_loss[r] = w * (std::log(static_cast<double>(sum)) + max_logit - target_logit);
      if (dx) {
        row *= loss_scale * w / sum;
        row(targets[r]) -= loss_scale * w;
        if (softcap > 0) row.array() *= slope;
      }
    }
    if (!dx) continue;
    weight_gemm(logits, false, head, false, head_for_dx, dx->middleRows(first, count));
    if (head_grad) gemm(logits, true, xc, false, *head_grad, 1.0f, 1.0f);
  }
  double total = 0;
  for (double l : row_loss) total += l;  // in row order: the same sum for any thread count
  return total;
}

void embedding_backward(std::span<const TokenId> ids, const Matrix& dx, Matrix& embedding_grad) {
  for (std::size_t r = 0; r < ids.size(); ++r) embedding_grad.row(ids[r]) += dx.row(static_cast<Eigen::Index>(r));
}

}  // namespace lorafarm::engine
