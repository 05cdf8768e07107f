// Parzen estimators for TPE: bandwidths, densities and sampling.
#include "search/parzen_estimator.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>

namespace lorafarm::search {
namespace {

double normal_cdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

// log Σ exp(v_i)
double log_sum_exp(std::span<const double> v) {
  const double m = *std::max_element(v.begin(), v.end());
  if (!std::isfinite(m)) return m;
  double s = 0.0;
  for (double x : v) s += std::exp(x - m);
  return m + std::log(s);
}

std::size_t pick(std::span<const double> weights, std::mt19937_64& rng) {
  std::discrete_distribution<std::size_t> d(weights.begin(), weights.end());
  return d(rng);
}

// Bandwidth per observation: the larger gap to its sorted neighbours among
// {0, the observations, the prior mean 0.5, 1}; the lowest and highest of the
// observations-and-prior use their inner gap (the ends are not neighbours then).
std::vector<double> kernel_bandwidths(std::span<const double> x) {
  const std::size_t n = x.size();
  std::vector<double> points(x.begin(), x.end());
  points.push_back(0.5);
  std::vector<std::size_t> order(points.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return points[a] < points[b]; });
  std::vector<double> sorted{0.0};
  for (std::size_t i : order) sorted.push_back(points[i]);
  sorted.push_back(1.0);
  const std::size_t m = points.size();
  std::vector<double> sigma(n);
  for (std::size_t r = 0; r < m; ++r) {
    const double left = sorted[r + 1] - sorted[r], right = sorted[r + 2] - sorted[r + 1];
    double s = std::max(left, right);
    if (m >= 2 && r == 0) s = right;
    if (m >= 2 && r == m - 1) s = left;
    if (order[r] < n) sigma[order[r]] = s;
  }
  const double min_sigma = 1.0 / std::min(100.0, static_cast<double>(n) + 2.0);
  for (double& s : sigma) s = std::clamp(s, min_sigma, 1.0);
  return sigma;
}

std::vector<double> normalised(std::span<const double> weights, double prior_weight) {
  std::vector<double> w(weights.begin(), weights.end());
  w.push_back(prior_weight);
  const double total = std::accumulate(w.begin(), w.end(), 0.0);
  if (!(total > 0.0)) throw std::invalid_argument("Parzen estimator: the weights must sum to more than 0");
  for (double& v : w) v /= total;
  return w;
}

}  // namespace

std::vector<double> tpe_weights(std::size_t n) {
  constexpr std::size_t kFlat = 25;
  std::vector<double> w(n, 1.0);
  if (n <= kFlat) return w;
  const std::size_t ramp = n - kFlat;
  const double first = 1.0 / static_cast<double>(n);
  for (std::size_t i = 0; i < ramp; ++i)
    w[i] = ramp == 1 ? first : first + (1.0 - first) * static_cast<double>(i) / static_cast<double>(ramp - 1);
  return w;
}

NumericParzen::NumericParzen(std::span<const double> x, std::span<const double> weights, double prior_weight)
    : mu_(x.begin(), x.end()), sigma_(kernel_bandwidths(x)), weight_(normalised(weights, prior_weight)) {
  if (weights.size() != x.size()) throw std::invalid_argument("NumericParzen: one weight per observation");
  mu_.push_back(0.5);
  sigma_.push_back(1.0);
  for (std::size_t i = 0; i < mu_.size(); ++i)
    log_mass_.push_back(std::log(normal_cdf((1.0 - mu_[i]) / sigma_[i]) - normal_cdf(-mu_[i] / sigma_[i])));
}

double NumericParzen::log_density(double u) const {
  if (u < 0.0 || u > 1.0) return -std::numeric_limits<double>::infinity();
  std::vector<double> terms(mu_.size());
  for (std::size_t i = 0; i < mu_.size(); ++i) {
    const double z = (u - mu_[i]) / sigma_[i];
    terms[i] = std::log(weight_[i]) - 0.5 * z * z - std::log(sigma_[i] * std::sqrt(2.0 * M_PI)) - log_mass_[i];
  }
  return log_sum_exp(terms);
}

// A kernel by weight, then rejection from its normal (every kernel keeps at
// least a third of its mass inside [0, 1], so this ends quickly).
double NumericParzen::sample(std::mt19937_64& rng) const {
  const std::size_t k = pick(weight_, rng);
  std::normal_distribution<double> normal(mu_[k], sigma_[k]);
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const double u = normal(rng);
    if (u >= 0.0 && u <= 1.0) return u;
  }
  return std::clamp(mu_[k], 0.0, 1.0);
}

CategoricalParzen::CategoricalParzen(std::span<const int> choice, std::span<const double> weights, int choices,
                                     double prior_weight)
    : p_(static_cast<std::size_t>(choices), 0.0) {
  if (choices < 1) throw std::invalid_argument("CategoricalParzen: needs at least one choice");
  if (weights.size() != choice.size()) throw std::invalid_argument("CategoricalParzen: one weight per observation");
  const std::vector<double> w = normalised(weights, prior_weight);
  const double a = prior_weight / (static_cast<double>(choice.size()) + 1.0);
  const double k = static_cast<double>(choices);
  for (std::size_t i = 0; i < choice.size(); ++i) {
    for (double& p : p_) p += w[i] * a / (1.0 + k * a);
    p_.at(static_cast<std::size_t>(choice[i])) += w[i] / (1.0 + k * a);
  }
  for (double& p : p_) p += w.back() / k;
}

double CategoricalParzen::log_probability(int choice) const { return std::log(p_.at(static_cast<std::size_t>(choice))); }

int CategoricalParzen::sample(std::mt19937_64& rng) const { return static_cast<int>(pick(p_, rng)); }

}  // namespace lorafarm::search
