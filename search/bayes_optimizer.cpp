// The suggestion loop of the unit-cube Bayesian optimiser.
#include "search/bayes_optimizer.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlopt.hpp>
#include <numeric>
#include <optional>
#include <stdexcept>

#include "search/bayes_models.h"
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
  if (!space_.lengthscale_groups.empty() && static_cast<int>(space_.lengthscale_groups.size()) != space_.dim)
    throw std::invalid_argument("BayesOptimizer: `lengthscale_groups` must have one entry per dimension");
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

  bool away_from_running(const Eigen::VectorXd& x) const {
    return min_distance(x, running) >= optimizer.options_.min_separation;
  }

  // A far-enough random point; the last resort when a discrete space is nearly
  // exhausted. When every configuration has run or is running, a finished one
  // is repeated rather than a running one duplicated: a repeat still measures
  // noise, a duplicate of a running trial only waits for the same answer.
  Eigen::VectorXd fallback() {
    Eigen::VectorXd x = random_point();
    for (int attempt = 0; attempt < 1000 && !far_enough(x); ++attempt) x = random_point();
    for (int attempt = 0; attempt < 1000 && !away_from_running(x); ++attempt) x = random_point();
    return x;
  }

  int size() const { return static_cast<int>(out.size()); }
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

Eigen::VectorXd BayesOptimizer::choose(std::span<const CubeObservation> observed,
                                       std::span<const Eigen::VectorXd> pending,
                                       std::span<const Eigen::VectorXd> candidates) {
  diagnostics_ = {};
  Batch batch(*this, splitmix(options_.seed, observed.size() + pending.size()), observed, pending);
  const Models models = fit_models(observed, batch.rng);
  const Fantasy fantasy = fantasise(models, batch.running);
  if (!fantasy.objective && !fantasy.feasibility && fantasy.constraints.empty()) return batch.fallback();
  const AcquisitionFunction acquisition(fantasy.objective ? &*fantasy.objective : nullptr,
                                        fantasy.feasibility ? &*fantasy.feasibility : nullptr, models.best,
                                        options_.acquisition, fantasy.constraints);
  std::vector<Eigen::VectorXd> points;
  for (const auto& c : candidates) {
    if (c.size() != space_.dim) throw std::invalid_argument("BayesOptimizer: a candidate has the wrong dimension");
    points.push_back(canonical(c));
  }
  if (points.empty()) return batch.fallback();
  const Eigen::VectorXd scores = acquisition.values(rows_of(points, space_.dim));
  std::vector<int> order(points.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return scores(a) > scores(b); });
  for (int i : order) {
    if (!batch.far_enough(points[i])) continue;
    diagnostics_.best_acquisition = scores(i);
    return points[i];
  }
  return batch.fallback();
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

// Alternates the gradient step on the continuous coordinates with a climb
// over the discrete neighbours; every value is the acquisition at a canonical
// (valid) point, never at a relaxed one.
std::pair<Eigen::VectorXd, double> BayesOptimizer::polish(const AcquisitionFunction& acquisition, Eigen::VectorXd x,
                                                          double value) const {
  for (int round = 0; round < 3; ++round) {
    auto [moved, v] = refine(acquisition, x, value, space_.continuous, options_.local_evaluations);
    moved = canonical(std::move(moved));
    v = acquisition.value(moved, nullptr);
    if (v > value) {
      x = std::move(moved);
      value = v;
    }
    auto [climbed, w] = climb(acquisition, x, value);
    if (!(w > value)) break;
    x = std::move(climbed);
    value = w;
  }
  return {std::move(x), value};
}

// Best-improvement hill climbing over the discrete neighbours.
std::pair<Eigen::VectorXd, double> BayesOptimizer::climb(const AcquisitionFunction& acquisition, Eigen::VectorXd x,
                                                         double value) const {
  if (!space_.neighbours) return {std::move(x), value};
  for (int step = 0; step < 32; ++step) {
    const std::vector<Eigen::VectorXd> near = space_.neighbours(x);
    if (near.empty()) break;
    const Eigen::VectorXd scores = acquisition.values(rows_of(near, space_.dim));
    Eigen::Index best = 0;
    if (!(scores.maxCoeff(&best) > value)) break;
    x = near[static_cast<std::size_t>(best)];
    value = scores(best);
  }
  return {std::move(x), value};
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
    auto [x, v] = polish(acquisition, candidates[i], scores(i));
    ranked.emplace_back(v, std::move(x));
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
