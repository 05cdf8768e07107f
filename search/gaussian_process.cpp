// GP regression: Cholesky posterior and MAP hyperparameters by L-BFGS (NLopt).
#include "search/gaussian_process.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlopt.hpp>
#include <numbers>
#include <stdexcept>

namespace lorafarm::search {
namespace {

// Hyperparameter box (log space) and weakly informative log-normal priors.
// Lengthscales: the prior median grows like √d, so the expected correlation
// between random points of the cube does not collapse as the dimension grows.
constexpr double kMinLogLengthscale = -4.6;  // ℓ ≥ 0.01 (GpFitOptions may raise it)
constexpr double kMaxLogLengthscale = 4.6;   // ℓ ≤ 100 (a switched-off dimension)
constexpr double kLengthscalePriorSd = 1.0;
constexpr double kMinLogSignal = -3.0;
constexpr double kMaxLogSignal = 3.0;
constexpr double kSignalPriorSd = 1.0;
constexpr double kNoisePriorMean = -9.2;  // σn² ≈ 1e-4 of the standardised variance
constexpr double kNoisePriorSd = 2.5;

double lengthscale_prior_mean(int dim) { return std::log(0.5) + 0.5 * std::log(dim); }

// log N(v; m, s²) up to a constant, and adds its derivative to *g.
double log_normal_prior(double v, double m, double s, double* g) {
  if (g) *g += -(v - m) / (s * s);
  return -0.5 * (v - m) * (v - m) / (s * s);
}

// The first coordinate of each lengthscale group (every coordinate when ungrouped).
std::vector<int> first_of_each_group(const std::vector<int>& groups, int d) {
  std::vector<int> firsts;
  for (int j = 0; j < d; ++j) {
    const bool first = groups.empty() || std::find(groups.begin(), groups.begin() + j, groups[j]) == groups.begin() + j;
    if (first) firsts.push_back(j);
  }
  return firsts;
}

}  // namespace

GpHyperparameters GpHyperparameters::defaults(int dim) {
  GpHyperparameters h;
  h.log_lengthscales = Eigen::VectorXd::Constant(dim, lengthscale_prior_mean(dim));
  return h;
}

Eigen::VectorXd GpHyperparameters::packed() const {
  const Eigen::Index d = log_lengthscales.size();
  Eigen::VectorXd t(d + 2);
  t.head(d) = log_lengthscales;
  t(d) = log_signal_variance;
  t(d + 1) = log_noise_variance;
  return t;
}

GpHyperparameters GpHyperparameters::unpack(const Eigen::VectorXd& theta) {
  const Eigen::Index d = theta.size() - 2;
  GpHyperparameters h;
  h.log_lengthscales = theta.head(d);
  h.log_signal_variance = theta(d);
  h.log_noise_variance = theta(d + 1);
  return h;
}

bool factorise_with_jitter(Eigen::MatrixXd k, double noise_variance, Eigen::LLT<Eigen::MatrixXd>& chol) {
  const double scale = k.diagonal().mean();
  k.diagonal().array() += noise_variance;
  for (double jitter = 0.0; jitter <= 1e-2 * scale; jitter = jitter == 0.0 ? 1e-10 * scale : jitter * 10) {
    Eigen::MatrixXd kj = k;
    kj.diagonal().array() += jitter;
    chol.compute(kj);
    if (chol.info() == Eigen::Success) return true;
  }
  return false;
}

// log p(y | θ) = -½ yᵀα - Σ log L_ii - n/2 log 2π,  α = K⁻¹y;
// ∂/∂θ = ½ tr((ααᵀ - K⁻¹) ∂K/∂θ).
double log_posterior_of_hyperparameters(const Eigen::MatrixXd& x, const Eigen::VectorXd& y,
                                        const GpHyperparameters& h, Eigen::VectorXd* grad,
                                        const std::vector<int>& groups) {
  const int d = static_cast<int>(x.cols());
  const auto n = static_cast<double>(x.rows());
  const Matern52 kernel(h.log_lengthscales.array().exp().matrix(), std::exp(h.log_signal_variance));
  const double noise = std::exp(h.log_noise_variance);
  Eigen::LLT<Eigen::MatrixXd> chol;
  if (!factorise_with_jitter(kernel.gram(x), noise, chol)) return -std::numeric_limits<double>::infinity();
  const Eigen::VectorXd alpha = chol.solve(y);
  const double log_det = 2.0 * chol.matrixLLT().diagonal().array().log().sum();
  double value = -0.5 * y.dot(alpha) - 0.5 * log_det - 0.5 * n * std::log(2.0 * std::numbers::pi);

  if (grad) {
    grad->setZero(d + 2);
    const Eigen::MatrixXd kinv = chol.solve(Eigen::MatrixXd::Identity(x.rows(), x.rows()));
    const Eigen::MatrixXd w = alpha * alpha.transpose() - kinv;
    grad->head(d + 1) = 0.5 * kernel.contract_log_param_grad(x, w);
    (*grad)(d + 1) = 0.5 * noise * w.trace();
  }
  const std::vector<int> firsts = first_of_each_group(groups, d);
  const double ml = lengthscale_prior_mean(static_cast<int>(firsts.size()));
  for (int j : firsts)
    value += log_normal_prior(h.log_lengthscales(j), ml, kLengthscalePriorSd, grad ? &(*grad)(j) : nullptr);
  value += log_normal_prior(h.log_signal_variance, 0.0, kSignalPriorSd, grad ? &(*grad)(d) : nullptr);
  value += log_normal_prior(h.log_noise_variance, kNoisePriorMean, kNoisePriorSd,
                            grad ? &(*grad)(d + 1) : nullptr);
  return value;
}

namespace {

// What the optimiser moves: one log-lengthscale per group, then log s², log σn².
struct FitData {
  const Eigen::MatrixXd* x;
  const Eigen::VectorXd* y;
  std::vector<int> groups;  // group of each coordinate, numbered 0..n_groups-1
  int n_groups = 0;

  Eigen::VectorXd expand(const std::vector<double>& t) const {
    const int d = static_cast<int>(groups.size());
    Eigen::VectorXd theta(d + 2);
    for (int j = 0; j < d; ++j) theta(j) = t[groups[j]];
    theta(d) = t[n_groups];
    theta(d + 1) = t[n_groups + 1];
    return theta;
  }
};

double negative_log_posterior(const std::vector<double>& t, std::vector<double>& g, void* data) {
  const auto* fit = static_cast<const FitData*>(data);
  Eigen::VectorXd grad;
  const double v = log_posterior_of_hyperparameters(*fit->x, *fit->y, GpHyperparameters::unpack(fit->expand(t)),
                                                    g.empty() ? nullptr : &grad, fit->groups);
  if (!std::isfinite(v)) {
    std::fill(g.begin(), g.end(), 0.0);
    return 1e100;
  }
  if (!g.empty()) {
    std::fill(g.begin(), g.end(), 0.0);
    const int d = static_cast<int>(fit->groups.size());
    for (int j = 0; j < d; ++j) g[fit->groups[j]] -= grad(j);
    g[fit->n_groups] = -grad(d);
    g[fit->n_groups + 1] = -grad(d + 1);
  }
  return -v;
}

// Renumbers `groups` 0..k-1 in order of first appearance (identity when empty).
std::vector<int> dense_groups(const std::vector<int>& groups, int d) {
  if (groups.empty()) {
    std::vector<int> identity(d);
    for (int j = 0; j < d; ++j) identity[j] = j;
    return identity;
  }
  if (static_cast<int>(groups.size()) != d)
    throw std::invalid_argument("fit_hyperparameters: lengthscale_groups needs one entry per dimension");
  std::vector<int> seen, dense(d);
  for (int j = 0; j < d; ++j) {
    auto it = std::find(seen.begin(), seen.end(), groups[j]);
    if (it == seen.end()) it = seen.insert(seen.end(), groups[j]);
    dense[j] = static_cast<int>(it - seen.begin());
  }
  return dense;
}

}  // namespace

GpHyperparameters fit_hyperparameters(const Eigen::MatrixXd& x, const Eigen::VectorXd& y,
                                      const GpFitOptions& options, std::mt19937_64& rng) {
  const int d = static_cast<int>(x.cols());
  FitData data{&x, &y, dense_groups(options.lengthscale_groups, d), 0};
  data.n_groups = d == 0 ? 0 : *std::max_element(data.groups.begin(), data.groups.end()) + 1;
  const int k = data.n_groups;
  const int p = k + 2;
  std::vector<double> lower(p), upper(p);
  for (int j = 0; j < k; ++j) {
    lower[j] = std::max(kMinLogLengthscale, std::log(options.min_lengthscale));
    upper[j] = kMaxLogLengthscale;
  }
  lower[k] = kMinLogSignal;
  upper[k] = kMaxLogSignal;
  lower[k + 1] = std::log(options.min_noise_variance);
  upper[k + 1] = std::log(options.max_noise_variance);

  // Starts in the optimiser's (grouped) coordinates: a group starts at its first member's value.
  const double prior_mean = lengthscale_prior_mean(k);
  const auto reduce = [&](const GpHyperparameters& h, bool use_lengthscales) {
    std::vector<double> t(p, prior_mean);
    for (int j = d - 1; j >= 0; --j)
      if (use_lengthscales) t[data.groups[j]] = h.log_lengthscales(j);
    t[k] = h.log_signal_variance;
    t[k + 1] = h.log_noise_variance;
    return t;
  };
  std::vector<std::vector<double>> starts;
  const bool warm = options.warm_start && options.warm_start->log_lengthscales.size() == d;
  starts.push_back(reduce(warm ? *options.warm_start : GpHyperparameters::defaults(d), warm));
  std::normal_distribution<double> normal(0.0, 1.0);
  for (int s = 0; s < options.random_starts; ++s) {
    std::vector<double> t = reduce(GpHyperparameters::defaults(d), false);
    for (int j = 0; j < k; ++j) t[j] += kLengthscalePriorSd * normal(rng);
    t[k] += 0.5 * normal(rng);
    starts.push_back(std::move(t));
  }

  std::vector<double> best = starts.front();
  double best_value = std::numeric_limits<double>::infinity();
  for (std::vector<double> t : starts) {
    for (int i = 0; i < p; ++i) t[i] = std::clamp(t[i], lower[i], upper[i]);
    nlopt::opt opt(nlopt::LD_LBFGS, p);
    opt.set_lower_bounds(lower);
    opt.set_upper_bounds(upper);
    opt.set_min_objective(negative_log_posterior, &data);
    opt.set_maxeval(options.max_evaluations);
    opt.set_ftol_rel(1e-7);
    double value = std::numeric_limits<double>::infinity();
    try {
      opt.optimize(t, value);
    } catch (const std::exception&) {
      // NLopt gives up on round-off; t holds the best point it found.
      std::vector<double> g;
      value = negative_log_posterior(t, g, &data);
    }
    if (value < best_value) {
      best_value = value;
      best = t;
    }
  }
  return GpHyperparameters::unpack(data.expand(best));
}

GaussianProcess::GaussianProcess(Eigen::MatrixXd x, Eigen::VectorXd y, const GpHyperparameters& h)
    : x_(std::move(x)),
      y_(std::move(y)),
      hyper_(h),
      kernel_(h.log_lengthscales.array().exp().matrix(), std::exp(h.log_signal_variance)) {
  if (x_.rows() != y_.size()) throw std::invalid_argument("GaussianProcess: x and y sizes differ");
  if (x_.cols() != h.log_lengthscales.size())
    throw std::invalid_argument("GaussianProcess: hyperparameters do not match the input dimension");
  if (!factorise_with_jitter(kernel_.gram(x_), noise_variance(), chol_))
    throw std::runtime_error("GaussianProcess: kernel matrix is not positive definite even with jitter");
  alpha_ = chol_.solve(y_);
}

// mean = k*ᵀα,  var = s2 - ‖L⁻¹k*‖².
void GaussianProcess::predict(const Eigen::MatrixXd& xs, Eigen::VectorXd& mean,
                              Eigen::VectorXd& variance) const {
  const Eigen::MatrixXd ks = kernel_.cross(x_, xs);  // n × m
  mean = ks.transpose() * alpha_;
  const Eigen::MatrixXd v = chol_.matrixL().solve(ks);
  variance = (kernel_.signal_variance() - v.colwise().squaredNorm().transpose().array()).cwiseMax(1e-12);
}

void GaussianProcess::predict_with_gradient(const Eigen::VectorXd& x, double& mean, double& variance,
                                            Eigen::VectorXd& dmean, Eigen::VectorXd& dvariance) const {
  const Eigen::VectorXd ks = kernel_.cross(x_, x.transpose()).col(0);
  const Eigen::MatrixXd dks = kernel_.cross_grad_x(x, x_);  // n × d
  mean = ks.dot(alpha_);
  dmean = dks.transpose() * alpha_;
  const Eigen::VectorXd kinv_ks = chol_.solve(ks);
  variance = kernel_.signal_variance() - ks.dot(kinv_ks);
  dvariance = -2.0 * dks.transpose() * kinv_ks;
  if (variance < 1e-12) {
    variance = 1e-12;
    dvariance.setZero();
  }
}

GaussianProcess GaussianProcess::with_observations(const Eigen::MatrixXd& xs, const Eigen::VectorXd& ys) const {
  Eigen::MatrixXd x(x_.rows() + xs.rows(), x_.cols());
  x << x_, xs;
  Eigen::VectorXd y(y_.size() + ys.size());
  y << y_, ys;
  return GaussianProcess(std::move(x), std::move(y), hyper_);
}

}  // namespace lorafarm::search
