// AdamW and global-norm gradient clipping.
#include "engine/optimizer.h"

#include <algorithm>
#include <cmath>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "engine/error.h"

namespace lorafarm::engine {
namespace {

struct AdamWConstants {
  float beta1, beta2, step_size, inv_sqrt_c2, eps, decay;
};

// AdamW on entry j: the scalar form of update_contiguous.
inline void update_entry(const AdamWConstants& k, int64_t j, const float* grad, float* m, float* v, float* value) {
  const float g = grad[j];
  m[j] = k.beta1 * m[j] + (1 - k.beta1) * g;
  v[j] = k.beta2 * v[j] + (1 - k.beta2) * g * g;
  value[j] -= k.step_size * m[j] / (std::sqrt(v[j]) * k.inv_sqrt_c2 + k.eps) + k.decay * value[j];
}

// AdamW on entries [first, first+n), 16 at a time where AVX-512 is built in:
// GCC keeps std::sqrt scalar in a loop (errno), and scalar square roots and
// divisions bound full fine-tuning's optimizer step. Same operations, same
// IEEE rounding (vsqrtps and vdivps are exact), as update_entry.
void update_contiguous(const AdamWConstants& k, int64_t first, int64_t n, const float* grad, float* m, float* v,
                       float* value) {
  int64_t j = first;
#if defined(__AVX512F__)
  const __m512 b1 = _mm512_set1_ps(k.beta1), b2 = _mm512_set1_ps(k.beta2);
  const __m512 one_b1 = _mm512_set1_ps(1 - k.beta1), one_b2 = _mm512_set1_ps(1 - k.beta2);
  const __m512 step = _mm512_set1_ps(k.step_size), inv_c2 = _mm512_set1_ps(k.inv_sqrt_c2);
  const __m512 eps = _mm512_set1_ps(k.eps), decay = _mm512_set1_ps(k.decay);
  for (; j + 16 <= first + n; j += 16) {
    const __m512 g = _mm512_loadu_ps(grad + j);
    const __m512 mj = _mm512_fmadd_ps(b1, _mm512_loadu_ps(m + j), _mm512_mul_ps(one_b1, g));
    const __m512 vj = _mm512_fmadd_ps(b2, _mm512_loadu_ps(v + j), _mm512_mul_ps(_mm512_mul_ps(one_b2, g), g));
    const __m512 denominator = _mm512_fmadd_ps(_mm512_sqrt_ps(vj), inv_c2, eps);
    const __m512 p = _mm512_loadu_ps(value + j);
    const __m512 change = _mm512_fmadd_ps(decay, p, _mm512_div_ps(_mm512_mul_ps(step, mj), denominator));
    _mm512_storeu_ps(m + j, mj);
    _mm512_storeu_ps(v + j, vj);
    _mm512_storeu_ps(value + j, _mm512_sub_ps(p, change));
  }
#endif
  for (; j < first + n; ++j) update_entry(k, j, grad, m, v, value);
}

}  // namespace

AdamW::AdamW(std::span<const ParamRef> params, const AdamWOptions& options) : options_(options) {
  for (const ParamRef& p : params) {
    m_.emplace_back(static_cast<std::size_t>(p.size), 0.0f);
    v_.emplace_back(static_cast<std::size_t>(p.size), 0.0f);
  }
}

void AdamW::step(std::span<const ParamRef> params, double lr) {
  if (params.size() != m_.size()) throw InvalidInput("optimizer: parameter list changed size");
  ++t_;
  for (std::size_t i = 0; i < params.size(); ++i) update_entries(params[i], i, 0, params[i].size, 1, t_, lr);
}

void AdamW::update_entries(const ParamRef& param, std::size_t index, int64_t first, int64_t count, int64_t stride,
                           int64_t t, double lr) {
  if (index >= m_.size() || static_cast<int64_t>(m_[index].size()) != param.size) {
    throw InvalidInput("optimizer: parameter " + param.name + " is not the one it was built with");
  }
  const double b1 = options_.beta1, b2 = options_.beta2;
  const double c1 = options_.bias_correction ? 1.0 - std::pow(b1, static_cast<double>(t)) : 1.0;
  const double c2 = options_.bias_correction ? 1.0 - std::pow(b2, static_cast<double>(t)) : 1.0;
  const auto step_size = static_cast<float>(lr / c1);
  const auto inv_sqrt_c2 = static_cast<float>(1.0 / std::sqrt(c2));
  const auto eps = static_cast<float>(options_.eps);
  const auto decay = static_cast<float>(lr * options_.weight_decay);
  const auto fb1 = static_cast<float>(b1), fb2 = static_cast<float>(b2);
  float* value = param.value;
  const float* grad = param.grad;
  float* m = m_[index].data();
  float* v = v_[index].data();
  const AdamWConstants k{fb1, fb2, step_size, inv_sqrt_c2, eps, decay};
  if (stride == 1) {  // whole parameters: in vector blocks
    constexpr int64_t kBlock = 4096;
#pragma omp parallel for schedule(static) if (count > kBlock)
    for (int64_t j = first; j < first + count; j += kBlock) {
      update_contiguous(k, j, std::min(kBlock, first + count - j), grad, m, v, value);
    }
    return;
  }
#pragma omp parallel for schedule(static) if (count > 4096)
  for (int64_t e = 0; e < count; ++e) update_entry(k, first + e * stride, grad, m, v, value);
}

int64_t AdamW::state_floats() const {
  int64_t n = 0;
  for (const auto& m : m_) n += 2 * static_cast<int64_t>(m.size());
  return n;
}

double clip_grad_norm(std::span<const ParamRef> params, double max_norm) {
  double sum = 0;
  for (const ParamRef& p : params) {
    for (int64_t j = 0; j < p.size; ++j) sum += static_cast<double>(p.grad[j]) * p.grad[j];
  }
  const double norm = std::sqrt(sum);
  if (max_norm > 0 && norm > max_norm) {
    const auto factor = static_cast<float>(max_norm / (norm + 1e-6));
    for (const ParamRef& p : params) {
      for (int64_t j = 0; j < p.size; ++j) p.grad[j] *= factor;
    }
  }
  return norm;
}

}  // namespace lorafarm::engine
