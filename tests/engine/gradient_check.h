// Finite-difference gradient checks for the float32 kernels.
//
// Tolerance: the kernels run in float32 (unit roundoff 6e-8) and the test
// losses are sums accumulated in double, so a loss of size ~1 carries an
// absolute error around 1e-6. Central differences with step h = 1e-2 then
// have a rounding error ~1e-6/h = 1e-4 and a truncation error ~h²·|f'''| ≈ 1e-4,
// so |numeric − analytic| ≤ 2e-3 + 2e-2·|analytic| separates a correct
// gradient from a wrong one (a missing term or factor shows up as O(1)
// relative error) without flaking on rounding.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <span>
#include <string>

#include "engine/tensor.h"

namespace lorafarm::engine::testing_support {

inline constexpr double kStep = 1e-2;
inline constexpr double kAbsTol = 2e-3;
inline constexpr double kRelTol = 2e-2;

// Compares `grad` with central differences of `loss` at up to `samples`
// entries of `values` (all entries when there are fewer).
inline void expect_gradient(std::span<float> values, std::span<const float> grad, const std::function<double()>& loss,
                            const std::string& what, int samples = 12, uint64_t seed = 7) {
  ASSERT_EQ(values.size(), grad.size()) << what;
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::size_t> pick(0, values.size() - 1);
  const bool all = values.size() <= static_cast<std::size_t>(samples);
  const std::size_t count = all ? values.size() : static_cast<std::size_t>(samples);
  double max_abs_grad = 0;
  for (std::size_t s = 0; s < count; ++s) {
    const std::size_t i = all ? s : pick(rng);
    const float saved = values[i];
    values[i] = static_cast<float>(saved + kStep);
    const double up = loss();
    values[i] = static_cast<float>(saved - kStep);
    const double down = loss();
    values[i] = saved;
    const double numeric = (up - down) / (2 * kStep);
    max_abs_grad = std::max(max_abs_grad, std::abs(numeric));
    EXPECT_NEAR(grad[i], numeric, kAbsTol + kRelTol * std::abs(numeric)) << what << " entry " << i;
  }
  (void)max_abs_grad;
}

inline Matrix random_matrix(Eigen::Index rows, Eigen::Index cols, float stddev, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, stddev);
  Matrix m(rows, cols);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = normal(rng);
  return m;
}

// Σ y ⊙ r in double: a scalar loss whose gradient with respect to y is r.
inline double projected(const Matrix& y, const Matrix& r) {
  double s = 0;
  for (Eigen::Index i = 0; i < y.size(); ++i) s += static_cast<double>(y.data()[i]) * r.data()[i];
  return s;
}

inline std::span<float> span_of(Matrix& m) { return {m.data(), static_cast<std::size_t>(m.size())}; }
inline std::span<float> span_of(Vector& v) { return {v.data(), static_cast<std::size_t>(v.size())}; }
inline std::span<const float> cspan_of(const Matrix& m) { return {m.data(), static_cast<std::size_t>(m.size())}; }
inline std::span<const float> cspan_of(const Vector& v) { return {v.data(), static_cast<std::size_t>(v.size())}; }

}  // namespace lorafarm::engine::testing_support
