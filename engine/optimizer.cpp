// AdamW and global-norm gradient clipping.
#include "engine/optimizer.h"

#include <cmath>

#include "engine/error.h"

namespace lorafarm::engine {

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
#pragma omp parallel for schedule(static) if (count > 4096)
  for (int64_t k = 0; k < count; ++k) {
    const int64_t j = first + k * stride;
    const float g = grad[j];
    m[j] = fb1 * m[j] + (1 - fb1) * g;
    v[j] = fb2 * v[j] + (1 - fb2) * g * g;
    value[j] -= step_size * m[j] / (std::sqrt(v[j]) * inv_sqrt_c2 + eps) + decay * value[j];
  }
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
