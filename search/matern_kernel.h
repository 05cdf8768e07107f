// The ARD Matérn-5/2 covariance used by the Gaussian process, with the
// derivatives the marginal likelihood and the acquisition optimiser need.
#pragma once

#include <Eigen/Core>

namespace lorafarm::search {

// k(x, x') = s2 (1 + √5 r + 5/3 r²) exp(-√5 r),  r² = Σ_d ((x_d - x'_d) / ℓ_d)².
// Points are rows. Inactive conditional coordinates are expected to hold one
// fixed value (see kInactiveCoordinate), so they never separate two points that
// both lack the parameter.
class Matern52 {
 public:
  Matern52(Eigen::VectorXd lengthscales, double signal_variance);

  int dim() const { return static_cast<int>(lengthscales_.size()); }
  const Eigen::VectorXd& lengthscales() const { return lengthscales_; }
  double signal_variance() const { return signal_variance_; }

  // K_ij = k(a_i, b_j).
  Eigen::MatrixXd cross(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) const;
  // K_ij = k(x_i, x_j).
  Eigen::MatrixXd gram(const Eigen::MatrixXd& x) const { return cross(x, x); }
  // Row i: ∂k(x, b_i)/∂x (an n × d matrix).
  Eigen::MatrixXd cross_grad_x(const Eigen::VectorXd& x, const Eigen::MatrixXd& b) const;
  // For a symmetric weight matrix W, returns Σ_ij W_ij ∂K_ij/∂θ for
  // θ = (log ℓ_1 … log ℓ_d, log s2): the trace terms of the likelihood gradient,
  // in O(n² d) without forming the d derivative matrices.
  Eigen::VectorXd contract_log_param_grad(const Eigen::MatrixXd& x, const Eigen::MatrixXd& w) const;

 private:
  Eigen::VectorXd lengthscales_;
  double signal_variance_;
};

// The value an encoded point holds in a coordinate whose parameter is inactive
// (outside the unit cube, so "absent" is never confused with any real value).
inline constexpr double kInactiveCoordinate = -0.5;

}  // namespace lorafarm::search
