// Output warp: Yeo-Johnson with the exponent chosen by profile likelihood.
#include "search/output_warp.h"

#include <cmath>
#include <limits>
#include <stdexcept>

namespace lorafarm::search {
namespace {

constexpr double kMinLambda = -1.0;
constexpr double kMaxLambda = 3.0;

void standardisation(const Eigen::VectorXd& v, double& mean, double& scale) {
  mean = v.mean();
  const double var = v.size() > 1 ? (v.array() - mean).square().sum() / static_cast<double>(v.size() - 1) : 0.0;
  scale = var > 1e-300 ? std::sqrt(var) : 1.0;
}

// Profile log-likelihood of λ for standardised z (Yeo & Johnson 2000, eq. 3.1):
// -n/2 log σ̂²(ψ_λ(z)) + (λ - 1) Σ sign(z_i) log(|z_i| + 1).
double profile_log_likelihood(const Eigen::VectorXd& z, double lambda) {
  Eigen::VectorXd psi(z.size());
  double jacobian = 0.0;
  for (Eigen::Index i = 0; i < z.size(); ++i) {
    psi(i) = yeo_johnson(z(i), lambda);
    jacobian += std::copysign(std::log1p(std::abs(z(i))), z(i));
  }
  const double var = (psi.array() - psi.mean()).square().mean();
  if (!(var > 1e-300)) return -std::numeric_limits<double>::infinity();
  return -0.5 * static_cast<double>(z.size()) * std::log(var) + (lambda - 1.0) * jacobian;
}

}  // namespace

double yeo_johnson(double z, double lambda) {
  if (z >= 0.0) {
    if (std::abs(lambda) < 1e-9) return std::log1p(z);
    return std::expm1(lambda * std::log1p(z)) / lambda;
  }
  if (std::abs(lambda - 2.0) < 1e-9) return -std::log1p(-z);
  return -std::expm1((2.0 - lambda) * std::log1p(-z)) / (2.0 - lambda);
}

OutputWarp OutputWarp::standardise_only(const Eigen::VectorXd& y) {
  if (y.size() == 0) throw std::invalid_argument("OutputWarp: no observations");
  OutputWarp w;
  standardisation(y, w.mean_, w.scale_);
  return w;
}

OutputWarp OutputWarp::fit(const Eigen::VectorXd& y) {
  OutputWarp w = standardise_only(y);
  if (y.size() < 3 || y.maxCoeff() == y.minCoeff()) return w;  // nothing to fit λ to
  const Eigen::VectorXd z = (y.array() - w.mean_) / w.scale_;
  // The likelihood is smooth and unimodal enough in λ: a grid then golden-section refinement.
  double best = kMinLambda, best_ll = -std::numeric_limits<double>::infinity();
  for (double l = kMinLambda; l <= kMaxLambda + 1e-12; l += 0.25) {
    const double ll = profile_log_likelihood(z, l);
    if (ll > best_ll) best_ll = ll, best = l;
  }
  double a = std::max(kMinLambda, best - 0.25), b = std::min(kMaxLambda, best + 0.25);
  const double g = (std::sqrt(5.0) - 1.0) / 2.0;
  for (int it = 0; it < 30; ++it) {
    const double c = b - g * (b - a), d = a + g * (b - a);
    if (profile_log_likelihood(z, c) > profile_log_likelihood(z, d)) b = d; else a = c;
  }
  w.lambda_ = 0.5 * (a + b);
  Eigen::VectorXd psi(z.size());
  for (Eigen::Index i = 0; i < z.size(); ++i) psi(i) = yeo_johnson(z(i), w.lambda_);
  standardisation(psi, w.out_mean_, w.out_scale_);
  return w;
}

double OutputWarp::operator()(double y) const {
  return (yeo_johnson((y - mean_) / scale_, lambda_) - out_mean_) / out_scale_;
}

Eigen::VectorXd OutputWarp::operator()(const Eigen::VectorXd& y) const {
  Eigen::VectorXd out(y.size());
  for (Eigen::Index i = 0; i < y.size(); ++i) out(i) = (*this)(y(i));
  return out;
}

}  // namespace lorafarm::search
