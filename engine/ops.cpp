// Forward kernels: RMSNorm, rotary embeddings, causal GQA attention, SwiGLU.
#include "engine/ops.h"

#include <omp.h>

#include <cmath>
#include <numbers>

#include "engine/gemm.h"

namespace lorafarm::engine {

void set_num_threads(int threads) {
  if (threads <= 0) threads = omp_get_num_procs();
  omp_set_num_threads(threads);
  Eigen::setNbThreads(1);  // products split their work themselves (engine/gemm.h)
}

int num_threads() { return omp_get_max_threads(); }

void rms_norm(const Matrix& x, const Vector& weight, float eps, Matrix& y, Vector* inv_rms) {
  y.resize(x.rows(), x.cols());
  if (inv_rms) inv_rms->resize(x.rows());
  const auto n = static_cast<double>(x.cols());
#pragma omp parallel for schedule(static)
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    const double mean_square = x.row(r).cast<double>().squaredNorm() / n;
    const auto scale = static_cast<float>(1.0 / std::sqrt(mean_square + eps));
    y.row(r) = (x.row(r) * scale).cwiseProduct(weight.transpose());
    if (inv_rms) (*inv_rms)(r) = scale;
  }
}

RopeTable make_rope_table(const ModelConfig& config, int max_positions) {
  const int d = config.head_dim;
  RopeTable table;
  table.half_dim = d / 2;
  std::vector<double> inv_freq(d / 2);
  for (int i = 0; i < d / 2; ++i) inv_freq[i] = std::pow(config.rope_theta, -2.0 * i / d);

  const RopeScaling& s = config.rope_scaling;
  if (s.type == RopeScaling::Type::kLinear) {
    for (double& f : inv_freq) f /= s.factor;
  } else if (s.type == RopeScaling::Type::kLlama3) {
    // Llama 3.1: long wavelengths are slowed by `factor`, short ones kept,
    // the band between interpolated smoothly.
    const double low_wavelength = s.original_max_position_embeddings / s.low_freq_factor;
    const double high_wavelength = s.original_max_position_embeddings / s.high_freq_factor;
    for (double& f : inv_freq) {
      const double wavelength = 2 * std::numbers::pi / f;
      if (wavelength > low_wavelength) {
        f /= s.factor;
      } else if (wavelength >= high_wavelength) {
        const double smooth = (s.original_max_position_embeddings / wavelength - s.low_freq_factor) /
                              (s.high_freq_factor - s.low_freq_factor);
        f = (1 - smooth) * f / s.factor + smooth * f;
      }
    }
  }
  table.cos.resize(max_positions, d / 2);
  table.sin.resize(max_positions, d / 2);
  for (int p = 0; p < max_positions; ++p) {
    for (int i = 0; i < d / 2; ++i) {
      const double angle = p * inv_freq[i];
      table.cos(p, i) = static_cast<float>(std::cos(angle));
      table.sin(p, i) = static_cast<float>(std::sin(angle));
    }
  }
  return table;
}

void apply_rope(Matrix& x, int heads, const RopeTable& table, std::span<const int> positions, bool inverse) {
  const int half = table.half_dim;
  const int d = 2 * half;
  const float sign = inverse ? -1.0f : 1.0f;
#pragma omp parallel for schedule(static)
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    const int p = positions[static_cast<std::size_t>(r)];
    const float* cos = &table.cos(p, 0);
    const float* sin = &table.sin(p, 0);
    float* row = &x(r, 0);
    for (int h = 0; h < heads; ++h) {
      float* head = row + h * d;
      for (int i = 0; i < half; ++i) {
        const float a = head[i], b = head[i + half];
        const float s = sign * sin[i];
        head[i] = a * cos[i] - b * s;
        head[i + half] = b * cos[i] + a * s;
      }
    }
  }
}

namespace {

// One head of one sequence: out = softmax(mask(q kᵀ/√d)) v, rows of q at
// positions q_start.. and rows of k, v at positions 0..
template <typename Q, typename K, typename V, typename Out>
void attention_head(const Q& qh, const K& kh, const V& vh, int q_start, int window, Out&& out, Matrix* probs,
                    const ScoreOptions& options) {
  const auto n = qh.rows();
  const auto total = kh.rows();
  const float scale = options.scale > 0 ? options.scale : 1.0f / std::sqrt(static_cast<float>(qh.cols()));
  // Through gemm: the packed kernel (and bf16 products when they are on), on
  // the calling thread inside the loop over heads.
  Matrix scores(n, total);
  gemm(qh, false, kh, true, scores, scale);
  if (options.softcap > 0) scores = options.softcap * (scores / options.softcap).array().tanh();
  for (Eigen::Index t = 0; t < n; ++t) {
    const Eigen::Index pos = q_start + t;
    const Eigen::Index first = window > 0 ? std::max<Eigen::Index>(0, pos - window + 1) : 0;
    const Eigen::Index last = std::min<Eigen::Index>(pos, total - 1);
    auto row = scores.row(t);
    auto visible = row.segment(first, last - first + 1);
    const float max_score = visible.maxCoeff();
    visible.array() = (visible.array() - max_score).exp();  // vectorised exp
    const float sum = visible.sum();
    row.head(first).setZero();
    row.tail(total - last - 1).setZero();
    visible /= sum;
  }
  gemm(scores, false, vh, false, out);
  if (probs) *probs = std::move(scores);
}

}  // namespace

ScoreOptions score_options(const ModelConfig& config) {
  return {config.attention_scale(), static_cast<float>(config.attn_logit_softcapping)};
}

void causal_attention(Eigen::Ref<const Matrix> q, Eigen::Ref<const Matrix> k, Eigen::Ref<const Matrix> v, int heads,
                      int kv_heads, int q_start, int window, Matrix& out, std::vector<Matrix>* probs,
                      const ScoreOptions& scores) {
  const auto d = q.cols() / heads;
  const int group = heads / kv_heads;
  out.resize(q.rows(), q.cols());
  if (probs) probs->assign(static_cast<std::size_t>(heads), Matrix());
#pragma omp parallel for schedule(static)
  for (int h = 0; h < heads; ++h) {
    const int kvh = h / group;
    attention_head(q.middleCols(h * d, d), k.middleCols(kvh * d, d), v.middleCols(kvh * d, d), q_start, window,
                   out.middleCols(h * d, d), probs ? &(*probs)[static_cast<std::size_t>(h)] : nullptr, scores);
  }
}

void batched_causal_attention(const Matrix& q, const Matrix& k, const Matrix& v, int heads, int kv_heads,
                              int length, std::span<const int> lengths, int window, Matrix& out,
                              const ScoreOptions& scores) {
  const auto d = q.cols() / heads;
  const int group = heads / kv_heads;
  const int batch = static_cast<int>(lengths.size());
  out.setZero(q.rows(), q.cols());
#pragma omp parallel for collapse(2) schedule(dynamic)
  for (int b = 0; b < batch; ++b) {
    for (int h = 0; h < heads; ++h) {
      const Eigen::Index row = static_cast<Eigen::Index>(b) * length;
      const int n = lengths[static_cast<std::size_t>(b)];  // padding rows stay zero
      const int kvh = h / group;
      attention_head(q.block(row, h * d, n, d), k.block(row, kvh * d, n, d), v.block(row, kvh * d, n, d), 0, window,
                     out.block(row, h * d, n, d), nullptr, scores);
    }
  }
}

void swiglu(const Matrix& gate, const Matrix& up, Matrix& out) {
  out.resize(gate.rows(), gate.cols());
#pragma omp parallel for schedule(static)
  for (Eigen::Index r = 0; r < gate.rows(); ++r) {
    const auto g = gate.row(r).array();
    out.row(r).array() = (g / (1.0f + (-g).exp())) * up.row(r).array();
  }
}

}  // namespace lorafarm::engine
