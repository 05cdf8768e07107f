// log-EI, LCB and the probability of feasibility, with gradients.
#include "search/acquisition.h"

#include <cmath>
#include <numbers>

namespace lorafarm::search {
namespace {

const double kLogSqrt2Pi = 0.5 * std::log(2.0 * std::numbers::pi);
const double kSqrtHalfPi = std::sqrt(0.5 * std::numbers::pi);

double normal_pdf(double z) { return std::exp(-0.5 * z * z - kLogSqrt2Pi); }
double normal_cdf(double z) { return 0.5 * std::erfc(-z / std::numbers::sqrt2); }

// Φ(z)/φ(z) for z < 0, = √(π/2) erfcx(-z/√2).
double mills_ratio_negative(double z) { return kSqrtHalfPi * erfcx(-z / std::numbers::sqrt2); }

}  // namespace

double erfcx(double x) {
  if (x < 25.0) return std::exp(x * x) * std::erfc(x);
  // Asymptotic series: erfcx(x) ~ 1/(x√π) Σ (-1)^k (2k-1)!! / (2x²)^k; at x ≥ 25 the
  // first omitted term is below 1e-14 relative.
  const double t = 1.0 / (2.0 * x * x);
  const double series = 1.0 - t * (1.0 - 3.0 * t * (1.0 - 5.0 * t * (1.0 - 7.0 * t * (1.0 - 9.0 * t))));
  return series / (x * std::sqrt(std::numbers::pi));
}

double log_h(double z) {
  if (z > -1.0) return std::log(normal_pdf(z) + z * normal_cdf(z));
  const double log_phi = -0.5 * z * z - kLogSqrt2Pi;
  if (z > -1e3) {
    // h = φ(z) (1 - |z| Φ(z)/φ(z)); the bracket loses at most log10(z²) digits here.
    return log_phi + std::log1p(z * mills_ratio_negative(z));
  }
  // h ~ φ(z)/z² (1 - 3/z² + 15/z⁴) far in the tail.
  const double u = 1.0 / (z * z);
  return log_phi + std::log(u) + std::log1p(-3.0 * u + 15.0 * u * u);
}

double dlog_h(double z) {
  if (z > -1.0) return normal_cdf(z) / (normal_pdf(z) + z * normal_cdf(z));
  if (z > -1e3) {
    const double r = mills_ratio_negative(z);
    return r / (1.0 + z * r);
  }
  return -z;  // Φ/h → |z| (1 + O(1/z²))
}

double log_ndtr(double z) {
  if (z > -5.0) return std::log(normal_cdf(z));
  return -0.5 * z * z - kLogSqrt2Pi + std::log(mills_ratio_negative(z));
}

double dlog_ndtr(double z) {
  if (z > -5.0) return normal_pdf(z) / normal_cdf(z);
  return 1.0 / mills_ratio_negative(z);
}

double log_expected_improvement(double mean, double sd, double best) {
  return std::log(sd) + log_h((best - mean) / sd);
}

AcquisitionFunction::AcquisitionFunction(const GaussianProcess* objective, const GaussianProcess* feasibility,
                                         double best, AcquisitionSettings settings,
                                         std::vector<const GaussianProcess*> constraints)
    : objective_(objective),
      feasibility_(feasibility),
      constraints_(std::move(constraints)),
      best_(best),
      settings_(settings) {}

// The objective part as a function of (μ, σ²), with its partial derivatives.
double AcquisitionFunction::objective_term(double mean, double variance, double* dmean, double* dvariance) const {
  const double sd = std::sqrt(variance);
  if (settings_.kind == AcquisitionKind::UpperConfidenceBound) {
    if (dmean) *dmean = -1.0;
    if (dvariance) *dvariance = settings_.ucb_beta / (2.0 * sd);
    return -(mean - settings_.ucb_beta * sd);
  }
  const double z = (best_ - mean) / sd;
  if (dmean) {
    // ∂/∂μ = -g/σ, ∂/∂σ² = (1 - g z) / (2σ²), g = d log h/dz.
    const double g = dlog_h(z);
    *dmean = -g / sd;
    *dvariance = (1.0 - g * z) / (2.0 * variance);
  }
  return std::log(sd) + log_h(z);
}

Eigen::VectorXd AcquisitionFunction::values(const Eigen::MatrixXd& xs) const {
  Eigen::VectorXd out = Eigen::VectorXd::Zero(xs.rows());
  Eigen::VectorXd mean, variance;
  if (objective_) {
    objective_->predict(xs, mean, variance);
    for (Eigen::Index i = 0; i < xs.rows(); ++i) out(i) = objective_term(mean(i), variance(i), nullptr, nullptr);
  }
  if (feasibility_) {
    feasibility_->predict(xs, mean, variance);
    for (Eigen::Index i = 0; i < xs.rows(); ++i) out(i) += log_ndtr(mean(i) / std::sqrt(variance(i)));
  }
  for (const GaussianProcess* c : constraints_) {
    c->predict(xs, mean, variance);
    for (Eigen::Index i = 0; i < xs.rows(); ++i) out(i) += log_ndtr(-mean(i) / std::sqrt(variance(i)));
  }
  return out;
}

double AcquisitionFunction::value(const Eigen::VectorXd& x, Eigen::VectorXd* grad) const {
  double total = 0.0;
  if (grad) grad->setZero(x.size());
  double mean, variance;
  Eigen::VectorXd dmean, dvariance;
  if (objective_) {
    objective_->predict_with_gradient(x, mean, variance, dmean, dvariance);
    double am = 0.0, av = 0.0;
    total += objective_term(mean, variance, grad ? &am : nullptr, grad ? &av : nullptr);
    if (grad) *grad += am * dmean + av * dvariance;
  }
  // log Φ(sign·μ/σ); ∂(μ/σ)/∂x = μ'/σ - μ σ²'/(2σ³).
  const auto add_probability = [&](const GaussianProcess& gp, double sign) {
    gp.predict_with_gradient(x, mean, variance, dmean, dvariance);
    const double sd = std::sqrt(variance);
    const double u = sign * mean / sd;
    total += log_ndtr(u);
    if (grad) *grad += sign * dlog_ndtr(u) * (dmean / sd - mean * dvariance / (2.0 * variance * sd));
  };
  if (feasibility_) add_probability(*feasibility_, 1.0);
  for (const GaussianProcess* c : constraints_) add_probability(*c, -1.0);
  return total;
}

}  // namespace lorafarm::search
