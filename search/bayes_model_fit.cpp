// Fitting the optimiser's models: the objective GP on warped outputs, one GP
// per constraint, the feasibility GP on ±1 labels, and when to refit their
// hyperparameters (on a subset of data past max_exact_observations).
#include <algorithm>
#include <cmath>
#include <numeric>

#include "search/bayes_models.h"
#include "search/output_warp.h"

namespace lorafarm::search {
namespace {

constexpr int kAlwaysRefitBelow = 32;

// Indices of at most `limit` rows to model exactly: all of them when few enough,
// else the best half by value (the region that matters for improvement) plus a
// uniform random sample of the rest (the global shape). Subset of data, not an
// inducing-point approximation: exact maths on a chosen subset.
std::vector<int> subset_of_data(const Eigen::VectorXd& y, int limit, std::mt19937_64& rng) {
  const int n = static_cast<int>(y.size());
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  if (n <= limit) return order;
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return y(a) < y(b); });
  const int best = limit / 2;
  std::vector<int> rest(order.begin() + best, order.end());
  std::shuffle(rest.begin(), rest.end(), rng);
  std::vector<int> chosen(order.begin(), order.begin() + best);
  chosen.insert(chosen.end(), rest.begin(), rest.begin() + (limit - best));
  return chosen;
}

}  // namespace

// Refits when the data has grown by refit_growth since the last fit (always
// while small); fits on at most max_fit_observations points of the subset.
GpHyperparameters BayesOptimizer::hyperparameters_for(HyperparameterCache& cache, const Eigen::MatrixXd& x,
                                                      const Eigen::VectorXd& y, const GpFitOptions& fit, int n,
                                                      std::mt19937_64& rng) const {
  const bool fresh = cache.fitted_at < 0 || n <= kAlwaysRefitBelow || n < cache.fitted_at ||
                     n >= static_cast<double>(cache.fitted_at) * options_.refit_growth ||
                     cache.hyperparameters.log_lengthscales.size() != x.cols();
  if (!fresh) return cache.hyperparameters;
  GpFitOptions options = fit;
  options.lengthscale_groups = space_.lengthscale_groups;
  if (cache.fitted_at >= 0 && cache.hyperparameters.log_lengthscales.size() == x.cols()) {
    // Past the small-data regime a refit from the last optimum converges fast;
    // random restarts are kept for the early fits, where the landscape changes most.
    options.warm_start = cache.hyperparameters;
    if (n > kAlwaysRefitBelow) options.random_starts = 0;
  }
  const auto idx = subset_of_data(y, options_.max_fit_observations, rng);
  Eigen::MatrixXd xs(static_cast<Eigen::Index>(idx.size()), x.cols());
  Eigen::VectorXd ys(static_cast<Eigen::Index>(idx.size()));
  for (std::size_t i = 0; i < idx.size(); ++i) {
    xs.row(static_cast<Eigen::Index>(i)) = x.row(idx[i]);
    ys(static_cast<Eigen::Index>(i)) = y(idx[i]);
  }
  cache.hyperparameters = fit_hyperparameters(xs, ys, options, rng);
  cache.fitted_at = n;
  return cache.hyperparameters;
}

BayesOptimizer::Models BayesOptimizer::fit_models(std::span<const CubeObservation> observed, std::mt19937_64& rng) {
  Models models;
  for (const auto& o : observed) {
    if (o.outcome == PointOutcome::Completed && std::isfinite(o.y)) {
      models.done_x.push_back(o.x);
      models.done_y.push_back(o.y);
    } else {
      models.any_infeasible = true;
    }
  }
  if (!models.done_x.empty()) fit_objective_model(observed, models, rng);
  fit_constraint_models(observed, models, rng);
  fit_feasibility_model(observed, models, rng);
  diagnostics_.used_feasibility_model = models.feasibility.has_value() || !models.constraints.empty();

  // The best completed points seed local candidates.
  auto& order = models.best_order;
  order.resize(models.done_x.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return models.done_y[a] < models.done_y[b]; });
  if (order.size() > 5) order.resize(5);
  return models;
}

// Objective model on the warped, subsetted completed observations.
void BayesOptimizer::fit_objective_model(std::span<const CubeObservation> observed, Models& models, std::mt19937_64& rng) {
  const auto& done_y = models.done_y;
  const Eigen::VectorXd y = Eigen::Map<const Eigen::VectorXd>(done_y.data(), static_cast<Eigen::Index>(done_y.size()));
  const OutputWarp warp = options_.warp_outputs ? OutputWarp::fit(y) : OutputWarp::standardise_only(y);
  Eigen::VectorXd all_warped = warp(y);
  models.best = all_warped.minCoeff();
  // Runs that failed without saying why (no constraint values) are also
  // penalised: the objective model sees them at the worst observed value, so
  // it stops extrapolating improvement into a region that only crashes.
  std::vector<Eigen::VectorXd> model_x = models.done_x;
  const double worst = all_warped.maxCoeff();
  for (const auto& o : observed) {
    if (o.outcome == PointOutcome::Failed || (o.outcome == PointOutcome::Infeasible && o.constraints.empty())) {
      model_x.push_back(o.x);
      all_warped.conservativeResize(all_warped.size() + 1);
      all_warped(all_warped.size() - 1) = worst;
    }
  }
  const auto idx = subset_of_data(all_warped, options_.max_exact_observations, rng);
  Eigen::MatrixXd x(static_cast<Eigen::Index>(idx.size()), space_.dim);
  models.warped.resize(static_cast<Eigen::Index>(idx.size()));
  for (std::size_t i = 0; i < idx.size(); ++i) {
    x.row(static_cast<Eigen::Index>(i)) = model_x[idx[i]].transpose();
    models.warped(static_cast<Eigen::Index>(i)) = all_warped(idx[i]);
  }
  GpHyperparameters h = GpHyperparameters::defaults(space_.dim);
  if (x.rows() >= 3) {
    GpFitOptions fit;
    fit.random_starts = options_.hyperparameter_random_starts;
    h = hyperparameters_for(objective_cache_, x, models.warped, fit, static_cast<int>(models.done_x.size()), rng);
  }
  models.objective.emplace(std::move(x), models.warped, h);
  diagnostics_.modelled_points = static_cast<int>(idx.size());
  diagnostics_.hyperparameters = h;
}

// Constraint models: when every point that ran carries K constraint values,
// one GP per constraint on c_k / rms(c_k) (no centring: 0 stays the boundary).
void BayesOptimizer::fit_constraint_models(std::span<const CubeObservation> observed, Models& models,
                                           std::mt19937_64& rng) {
  std::size_t& n_constraints = models.n_constraints;
  bool all_have = true;
  std::vector<int> ran;
  for (std::size_t i = 0; i < observed.size(); ++i) {
    if (observed[i].outcome == PointOutcome::Failed) continue;
    if (ran.empty()) n_constraints = observed[i].constraints.size();
    all_have = all_have && observed[i].constraints.size() == n_constraints;
    ran.push_back(static_cast<int>(i));
  }
  if (!all_have || ran.size() < 2) n_constraints = 0;
  for (std::size_t k = 0; k < n_constraints; ++k) {
    Eigen::VectorXd c(static_cast<Eigen::Index>(ran.size()));
    for (std::size_t i = 0; i < ran.size(); ++i) c(static_cast<Eigen::Index>(i)) = observed[ran[i]].constraints[k];
    const double rms = std::sqrt(c.squaredNorm() / static_cast<double>(c.size()));
    c /= rms > 1e-300 ? rms : 1.0;
    // Keep the points nearest the boundary when subsetting.
    const auto idx = subset_of_data(c.cwiseAbs(), options_.max_exact_observations, rng);
    Eigen::MatrixXd x(static_cast<Eigen::Index>(idx.size()), space_.dim);
    Eigen::VectorXd v(static_cast<Eigen::Index>(idx.size()));
    for (std::size_t i = 0; i < idx.size(); ++i) {
      x.row(static_cast<Eigen::Index>(i)) = observed[ran[idx[i]]].x.transpose();
      v(static_cast<Eigen::Index>(i)) = c(idx[i]);
    }
    GpFitOptions fit;
    fit.random_starts = 1;
    if (constraint_cache_.size() <= k) constraint_cache_.resize(k + 1);
    const GpHyperparameters h = hyperparameters_for(constraint_cache_[k], x, v, fit, static_cast<int>(ran.size()), rng);
    models.constraints.emplace_back(std::move(x), std::move(v), h);
  }
}

// Feasibility model for what constraint values cannot explain (crashes,
// infeasible runs without values): a GP on ±1 labels — label regression, a
// cheap stand-in for GP classification; P(feasible) = Φ(μ/σ).
void BayesOptimizer::fit_feasibility_model(std::span<const CubeObservation> observed, Models& models,
                                           std::mt19937_64& rng) {
  bool needs_labels = false;
  for (const auto& o : observed)
    needs_labels = needs_labels || o.outcome == PointOutcome::Failed ||
                   (o.outcome == PointOutcome::Infeasible && models.n_constraints == 0);
  if (!needs_labels || !models.any_infeasible) return;
  Eigen::VectorXd labels(static_cast<Eigen::Index>(observed.size()));
  for (std::size_t i = 0; i < observed.size(); ++i)
    labels(static_cast<Eigen::Index>(i)) =
        observed[i].outcome == PointOutcome::Completed && std::isfinite(observed[i].y) ? 1.0 : -1.0;
  // Subset with the infeasible points ranked first, so they are kept.
  const auto idx = subset_of_data(labels, options_.max_exact_observations, rng);
  Eigen::MatrixXd x(static_cast<Eigen::Index>(idx.size()), space_.dim);
  Eigen::VectorXd l(static_cast<Eigen::Index>(idx.size()));
  for (std::size_t i = 0; i < idx.size(); ++i) {
    x.row(static_cast<Eigen::Index>(i)) = observed[idx[i]].x.transpose();
    l(static_cast<Eigen::Index>(i)) = labels(idx[i]);
  }
  GpFitOptions fit;
  fit.random_starts = 1;
  fit.min_noise_variance = 1e-3;
  // A feasibility boundary is a step, which the likelihood would fit with an
  // ever shorter lengthscale, leaving P(feasible) ≈ ½ between observations.
  fit.min_lengthscale = 0.1;
  const GpHyperparameters h = hyperparameters_for(feasibility_cache_, x, l, fit, static_cast<int>(observed.size()), rng);
  models.feasibility.emplace(std::move(x), std::move(l), h);
}

}  // namespace lorafarm::search
