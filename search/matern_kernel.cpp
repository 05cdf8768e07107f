// ARD Matérn-5/2 kernel: values, input gradients and hyperparameter gradients.
#include "search/matern_kernel.h"

#include <cmath>
#include <stdexcept>

namespace lorafarm::search {
namespace {

const double kSqrt5 = std::sqrt(5.0);

// Scaled squared distances r²_ij between the rows of a and b (already divided by ℓ).
Eigen::MatrixXd squared_distances(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) {
  const Eigen::VectorXd an = a.rowwise().squaredNorm();
  const Eigen::VectorXd bn = b.rowwise().squaredNorm();
  Eigen::MatrixXd d2 = -2.0 * a * b.transpose();
  d2.colwise() += an;
  d2.rowwise() += bn.transpose();
  return d2.cwiseMax(0.0);
}

}  // namespace

Matern52::Matern52(Eigen::VectorXd lengthscales, double signal_variance)
    : lengthscales_(std::move(lengthscales)), signal_variance_(signal_variance) {
  if (lengthscales_.size() == 0 || (lengthscales_.array() <= 0).any() || !(signal_variance_ > 0))
    throw std::invalid_argument("Matern52: lengthscales and signal variance must be positive");
}

Eigen::MatrixXd Matern52::cross(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) const {
  const Eigen::RowVectorXd inv = lengthscales_.cwiseInverse().transpose();
  const Eigen::MatrixXd as = a.array().rowwise() * inv.array();
  const Eigen::MatrixXd bs = b.array().rowwise() * inv.array();
  const Eigen::ArrayXXd r = squared_distances(as, bs).array().sqrt();
  return (signal_variance_ * (1.0 + kSqrt5 * r + (5.0 / 3.0) * r.square()) * (-kSqrt5 * r).exp()).matrix();
}

// ∂k/∂x_d = -(5/3) s2 (1 + √5 r) e^{-√5 r} (x_d - b_d) / ℓ_d²  (smooth at r = 0).
Eigen::MatrixXd Matern52::cross_grad_x(const Eigen::VectorXd& x, const Eigen::MatrixXd& b) const {
  const Eigen::ArrayXd inv2 = lengthscales_.array().square().inverse();
  Eigen::MatrixXd diff = (-b).rowwise() + x.transpose();  // x - b_i
  const Eigen::ArrayXd r =
      (diff.array().square().rowwise() * inv2.transpose()).rowwise().sum().sqrt();
  const Eigen::ArrayXd g = -(5.0 / 3.0) * signal_variance_ * (1.0 + kSqrt5 * r) * (-kSqrt5 * r).exp();
  return (diff.array().colwise() * g).rowwise() * inv2.transpose();
}

// ∂k/∂log ℓ_d = (5/3) s2 (1 + √5 r) e^{-√5 r} (Δ_d / ℓ_d)²;  ∂k/∂log s2 = k.
Eigen::VectorXd Matern52::contract_log_param_grad(const Eigen::MatrixXd& x,
                                                  const Eigen::MatrixXd& w) const {
  const int d = dim();
  const Eigen::RowVectorXd inv = lengthscales_.cwiseInverse().transpose();
  const Eigen::MatrixXd xs = x.array().rowwise() * inv.array();
  const Eigen::ArrayXXd r = squared_distances(xs, xs).array().sqrt();
  const Eigen::ArrayXXd e = (-kSqrt5 * r).exp();
  const Eigen::ArrayXXd k = signal_variance_ * (1.0 + kSqrt5 * r + (5.0 / 3.0) * r.square()) * e;
  const Eigen::ArrayXXd g = (5.0 / 3.0) * signal_variance_ * (1.0 + kSqrt5 * r) * e * w.array();
  // Σ_ab g_ab (c_a - c_b)² = 2 Σ_a c_a² G_a - 2 cᵀ g c, with G_a = Σ_b g_ab (g symmetric).
  const Eigen::VectorXd row_sums = g.rowwise().sum().matrix();
  const Eigen::MatrixXd gc = g.matrix() * xs;
  Eigen::VectorXd out(d + 1);
  for (int j = 0; j < d; ++j)
    out(j) = 2.0 * xs.col(j).cwiseAbs2().dot(row_sums) - 2.0 * xs.col(j).dot(gc.col(j));
  out(d) = (k * w.array()).sum();
  return out;
}

}  // namespace lorafarm::search
