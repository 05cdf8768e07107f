// The suggestion loop of the unit-cube Bayesian optimiser.
#include "search/bayes_optimizer.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlopt.hpp>
#include <numeric>
#include <stdexcept>

#include "search/output_warp.h"
#include "search/sobol_sampler.h"

namespace lorafarm::search {
namespace {

std::uint64_t splitmix(std::uint64_t seed, std::uint64_t index) {
  std::uint64_t z = seed + 0x9E3779B97F4A7C15ull * (index + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

constexpr double kRepeatDistance = 1e-6;
constexpr int kAlwaysRefitBelow = 32;

double min_distance(const Eigen::VectorXd& x, const std::vector<Eigen::VectorXd>& points) {
  double best = std::numeric_limits<double>::infinity();
  for (const auto& p : points) best = std::min(best, (p - x).norm());
  return best;
}

Eigen::MatrixXd rows_of(const std::vector<Eigen::VectorXd>& points, int dim) {
  Eigen::MatrixXd m(static_cast<Eigen::Index>(points.size()), dim);
  for (std::size_t i = 0; i < points.size(); ++i) m.row(static_cast<Eigen::Index>(i)) = points[i].transpose();
  return m;
}

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

struct LocalSearch {
  const AcquisitionFunction* acquisition;
  Eigen::VectorXd point;     // the full point; free coordinates are overwritten
  std::vector<int> free;     // coordinates L-BFGS moves
  double best_value = -std::numeric_limits<double>::infinity();
  Eigen::VectorXd best_point;
};

double local_objective(const std::vector<double>& t, std::vector<double>& g, void* data) {
  auto* s = static_cast<LocalSearch*>(data);
  for (std::size_t i = 0; i < s->free.size(); ++i) s->point(s->free[i]) = t[i];
  Eigen::VectorXd grad;
  const double v = s->acquisition->value(s->point, g.empty() ? nullptr : &grad);
  if (!g.empty())
    for (std::size_t i = 0; i < s->free.size(); ++i) g[i] = std::isfinite(v) ? grad(s->free[i]) : 0.0;
  if (v > s->best_value) {
    s->best_value = v;
    s->best_point = s->point;
  }
  return std::isfinite(v) ? v : -1e300;
}

// Moves the continuous, active coordinates of `start` uphill on the acquisition.
std::pair<Eigen::VectorXd, double> refine(const AcquisitionFunction& acquisition, const Eigen::VectorXd& start,
                                          double start_value, const std::vector<bool>& continuous,
                                          int evaluations) {
  LocalSearch s{&acquisition, start, {}, start_value, start};
  for (int j = 0; j < start.size(); ++j)
    if ((continuous.empty() || continuous[j]) && start(j) >= 0.0) s.free.push_back(j);
  if (s.free.empty()) return {start, start_value};
  nlopt::opt opt(nlopt::LD_LBFGS, static_cast<unsigned>(s.free.size()));
  opt.set_lower_bounds(0.0);
  opt.set_upper_bounds(1.0);
  opt.set_max_objective(local_objective, &s);
  opt.set_maxeval(evaluations);
  opt.set_ftol_abs(1e-9);
  opt.set_xtol_abs(1e-7);
  std::vector<double> t(s.free.size());
  for (std::size_t i = 0; i < s.free.size(); ++i) t[i] = std::clamp(start(s.free[i]), 0.0, 1.0);
  double value = 0.0;
  try {
    opt.optimize(t, value);
  } catch (const std::exception&) {
    // Round-off or a failed line search: keep the best point seen.
  }
  return {s.best_point, s.best_value};
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

CubeSpace CubeSpace::box(int dim) {
  CubeSpace s;
  s.dim = dim;
  return s;
}

BayesOptimizer::BayesOptimizer(CubeSpace space, BayesOptions options)
    : space_(std::move(space)), options_(options) {
  if (space_.dim <= 0) throw std::invalid_argument("BayesOptimizer: the cube needs at least one dimension");
  if (!space_.continuous.empty() && static_cast<int>(space_.continuous.size()) != space_.dim)
    throw std::invalid_argument("BayesOptimizer: `continuous` must have one flag per dimension");
}

int BayesOptimizer::initial_design_size() const {
  if (options_.initial_points > 0) return options_.initial_points;
  return std::clamp(2 * space_.dim + 1, 5, 20);
}

Eigen::VectorXd BayesOptimizer::canonical(Eigen::VectorXd x) const {
  if (space_.canonicalize) {
    space_.canonicalize(x);
  } else {
    x = x.cwiseMax(0.0).cwiseMin(1.0);
  }
  return x;
}

// Sobol point `index` with a seed-derived digital shift; random past Sobol's dimension limit.
Eigen::VectorXd BayesOptimizer::design_point(std::uint64_t index) const {
  Eigen::VectorXd x(space_.dim);
  if (static_cast<std::size_t>(space_.dim) <= SobolSequence::kMaxDimensions) {
    const SobolSequence sobol(static_cast<std::size_t>(space_.dim));
    const auto bits = sobol.integer_point(index);
    const double scale = std::ldexp(1.0, -SobolSequence::kBits);
    const std::uint64_t mask = (std::uint64_t{1} << SobolSequence::kBits) - 1;
    for (int j = 0; j < space_.dim; ++j) {
      const std::uint64_t shift = splitmix(options_.seed ^ 0x50B01ull, static_cast<std::uint64_t>(j)) & mask;
      x(j) = (static_cast<double>(bits[j] ^ shift) + 0.5) * scale;
    }
  } else {
    std::mt19937_64 rng(splitmix(options_.seed, index));
    std::uniform_real_distribution<double> u(0.0, 1.0);
    for (int j = 0; j < space_.dim; ++j) x(j) = u(rng);
  }
  return canonical(std::move(x));
}

// The points one suggest() call works with: its random stream, the running and
// finished points a suggestion must keep away from, and what it has accepted.
struct BayesOptimizer::Batch {
  const BayesOptimizer& optimizer;
  std::mt19937_64 rng;
  std::uniform_real_distribution<double> uniform{0.0, 1.0};
  // Running points (and this batch) must be at least min_separation away from
  // a suggestion; finished ones only not repeated (1e-6), so the search may
  // still refine its incumbent finely.
  std::vector<Eigen::VectorXd> finished;
  std::vector<Eigen::VectorXd> running;
  std::vector<Eigen::VectorXd> out;

  Batch(const BayesOptimizer& o, std::uint64_t seed, std::span<const CubeObservation> observed,
        std::span<const Eigen::VectorXd> pending)
      : optimizer(o), rng(seed), running(pending.begin(), pending.end()) {
    for (const auto& obs : observed) finished.push_back(obs.x);
  }

  Eigen::VectorXd random_point() {
    Eigen::VectorXd x(optimizer.space_.dim);
    for (int j = 0; j < optimizer.space_.dim; ++j) x(j) = uniform(rng);
    return optimizer.canonical(std::move(x));
  }

  bool far_enough(const Eigen::VectorXd& x) const {
    return min_distance(x, running) >= optimizer.options_.min_separation && min_distance(x, finished) >= kRepeatDistance;
  }

  void accept(const Eigen::VectorXd& x) {
    out.push_back(x);
    running.push_back(x);
  }

  // A far-enough random point; the last resort when a discrete space is nearly exhausted.
  Eigen::VectorXd fallback() {
    Eigen::VectorXd x = random_point();
    for (int attempt = 0; attempt < 1000 && !far_enough(x); ++attempt) x = random_point();
    return x;
  }

  int size() const { return static_cast<int>(out.size()); }
};

// The models one suggest() call fits to the history, before any fantasy.
struct BayesOptimizer::Models {
  std::vector<Eigen::VectorXd> done_x;  // completed points with a finite objective
  std::vector<double> done_y;
  bool any_infeasible = false;          // some point did not complete
  std::optional<GaussianProcess> objective;
  Eigen::VectorXd warped;  // the objective model's targets
  double best = 0.0;       // the best warped value
  std::vector<GaussianProcess> constraints;
  std::size_t n_constraints = 0;
  std::optional<GaussianProcess> feasibility;
  std::vector<int> best_order;  // indices into done_x of the (at most 5) best points
};

// The models with the running points fantasised in, and what the acquisition
// function needs of them.
struct BayesOptimizer::Fantasy {
  std::optional<GaussianProcess> objective;
  std::optional<GaussianProcess> feasibility;
  std::vector<GaussianProcess> constraint_models;
  std::vector<const GaussianProcess*> constraints;
};

std::vector<Eigen::VectorXd> BayesOptimizer::suggest(std::span<const CubeObservation> observed,
                                                     std::span<const Eigen::VectorXd> pending, int count) {
  diagnostics_ = {};
  for (const auto& o : observed)
    if (o.x.size() != space_.dim) throw std::invalid_argument("BayesOptimizer: an observation has the wrong dimension");
  for (const auto& p : pending)
    if (p.size() != space_.dim) throw std::invalid_argument("BayesOptimizer: a pending point has the wrong dimension");

  const std::uint64_t history = observed.size() + pending.size();
  Batch batch(*this, splitmix(options_.seed, history), observed, pending);
  take_initial_design(batch, history, count);
  if (batch.size() >= count) return std::move(batch.out);
  const Models models = fit_models(observed, batch.rng);
  while (batch.size() < count) batch.accept(next_point(models, batch));
  return std::move(batch.out);
}

// The initial design: Sobol points, by index in the history.
void BayesOptimizer::take_initial_design(Batch& batch, std::uint64_t history, int count) {
  const int n_initial = initial_design_size();
  while (batch.size() < count && history + batch.out.size() < static_cast<std::uint64_t>(n_initial)) {
    Eigen::VectorXd x = design_point(history + batch.out.size());
    if (!batch.far_enough(x)) x = batch.fallback();
    batch.accept(x);
    diagnostics_.from_initial_design = true;
  }
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

// One more point: maximise the acquisition of the models with the running
// points fantasised in.
Eigen::VectorXd BayesOptimizer::next_point(const Models& models, Batch& batch) {
  const Fantasy fantasy = fantasise(models, batch.running);
  if (!fantasy.objective && !fantasy.feasibility && fantasy.constraints.empty())
    return batch.fallback();  // nothing observed yet, design exhausted
  const AcquisitionFunction acquisition(fantasy.objective ? &*fantasy.objective : nullptr,
                                        fantasy.feasibility ? &*fantasy.feasibility : nullptr, models.best,
                                        options_.acquisition, fantasy.constraints);
  const std::vector<Eigen::VectorXd> candidates = candidate_points(models, batch);
  return maximise(acquisition, candidates, batch);
}

// Fantasise the running points into the models: the objective as the pending
// strategy says, the feasibility models at their means.
BayesOptimizer::Fantasy BayesOptimizer::fantasise(const Models& models,
                                                  const std::vector<Eigen::VectorXd>& running) const {
  Fantasy fantasy;
  const Eigen::MatrixXd pend = rows_of(running, space_.dim);
  if (models.objective) {
    if (pend.rows() == 0) {
      fantasy.objective = models.objective;
    } else {
      Eigen::VectorXd lie(pend.rows());
      if (options_.pending == PendingStrategy::KrigingBeliever) {
        Eigen::VectorXd var;
        models.objective->predict(pend, lie, var);
      } else {
        lie.setConstant(options_.pending == PendingStrategy::ConstantLiarMin ? models.best : models.warped.mean());
      }
      fantasy.objective = models.objective->with_observations(pend, lie);
    }
  }
  const auto believe = [&](const GaussianProcess& base) {
    if (pend.rows() == 0) return base;
    Eigen::VectorXd mean, var;
    base.predict(pend, mean, var);
    return base.with_observations(pend, mean);
  };
  if (models.feasibility) fantasy.feasibility = believe(*models.feasibility);
  for (const auto& c : models.constraints) fantasy.constraint_models.push_back(believe(c));
  for (const auto& c : fantasy.constraint_models) fantasy.constraints.push_back(&c);
  return fantasy;
}

// Candidates: uniform points plus Gaussian clouds around the best points.
std::vector<Eigen::VectorXd> BayesOptimizer::candidate_points(const Models& models, Batch& batch) const {
  std::vector<Eigen::VectorXd> candidates;
  for (int i = 0; i < options_.raw_samples; ++i) candidates.push_back(batch.random_point());
  std::normal_distribution<double> normal(0.0, 1.0);
  for (int b : models.best_order) {
    for (double sd : {0.1, 0.02, 0.004}) {
      for (int k = 0; k < 12; ++k) {
        Eigen::VectorXd x = models.done_x[b];
        for (int j = 0; j < space_.dim; ++j)
          if (x(j) >= 0.0) x(j) = std::clamp(x(j) + sd * normal(batch.rng), 0.0, 1.0);
        candidates.push_back(canonical(std::move(x)));
      }
    }
  }
  return candidates;
}

// Scores the candidates, refines the best few (distinct) starts with L-BFGS and
// takes the best far-enough point, refined points first.
Eigen::VectorXd BayesOptimizer::maximise(const AcquisitionFunction& acquisition,
                                         const std::vector<Eigen::VectorXd>& candidates, Batch& batch) {
  const Eigen::VectorXd scores = acquisition.values(rows_of(candidates, space_.dim));
  std::vector<int> order(candidates.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return scores(a) > scores(b); });

  std::vector<std::pair<double, Eigen::VectorXd>> ranked;
  std::vector<Eigen::VectorXd> starts;
  for (int i : order) {
    if (static_cast<int>(starts.size()) >= options_.local_starts) break;
    if (min_distance(candidates[i], starts) < 1e-3) continue;
    starts.push_back(candidates[i]);
    auto [x, v] = refine(acquisition, candidates[i], scores(i), space_.continuous, options_.local_evaluations);
    ranked.emplace_back(v, canonical(std::move(x)));
  }
  std::stable_sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (int i : order) ranked.emplace_back(scores(i), candidates[i]);

  for (const auto& [v, x] : ranked) {
    if (!batch.far_enough(x)) continue;
    diagnostics_.best_acquisition = v;
    return x;
  }
  return batch.fallback();
}

}  // namespace lorafarm::search
