// GpSampler: SearchSpace ⇄ model cube, history ⇄ BayesOptimizer.
#include "search/gp_sampler.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "search/pareto.h"

namespace lorafarm::search {
namespace {

bool has_objective(const Observation& o) {
  return !o.objectives.empty() && std::all_of(o.objectives.begin(), o.objectives.end(),
                                              [](double v) { return std::isfinite(v); });
}

bool breaks_constraint(const Observation& o) {
  return std::any_of(o.constraints.begin(), o.constraints.end(), [](double c) { return !(c <= 0.0); });
}

// 2·(number of parameters)+1 Sobol points, within 5..20: a categorical counts
// once, not once per one-hot coordinate. With an int or a categorical, at most
// 10 (as TPE's default start-up): on the mixed benchmarks the model, not the
// design, decides, and 15 of a 30-trial budget left too little to it.
int initial_design_size(const SearchSpace& space) {
  const int n = std::clamp(2 * static_cast<int>(space.dimensions()) + 1, 5, 20);
  const auto params = space.parameters();
  const bool discrete = std::any_of(params.begin(), params.end(), [](const Parameter& p) { return p.type != ParamType::Float; });
  return discrete ? std::min(n, 10) : n;
}

// Kriging believer on all-float spaces: a fantasy at the posterior mean lets
// the next suggestion refine close to a running point, which a smooth
// objective rewards (Branin and Hartmann-6 with 4 workers lose 1.6–2.2 decades
// under the constant liar). With ints or categoricals, a point next to a
// running one is mostly the same configuration; the constant liar at the mean
// observed value pushes the next suggestion further (measured with 8 workers
// on the LoRA tables, docs/search.md).
PendingStrategy default_pending(const SearchSpace& space) {
  const auto params = space.parameters();
  const bool discrete = std::any_of(params.begin(), params.end(), [](const Parameter& p) { return p.type != ParamType::Float; });
  return discrete ? PendingStrategy::ConstantLiarMean : PendingStrategy::KrigingBeliever;
}

// TPE's draws on every third model-based trial of a mixed space: they spread
// over the values of good trials parameter by parameter, where the GP's own
// maximiser settles at its model's minimum (measured in docs/search.md,
// "Mixed spaces"). All-float spaces keep the GP alone.
int default_tpe_every(const SearchSpace& space) {
  const auto params = space.parameters();
  const bool discrete = std::any_of(params.begin(), params.end(), [](const Parameter& p) { return p.type != ParamType::Float; });
  return discrete ? 3 : 0;
}

}  // namespace

GpSampler::GpSampler(SearchSpace space, std::uint64_t seed, GpSamplerOptions options)
    : space_(std::move(space)), seed_(seed), options_(options), tpe_(space_, seed) {
  if (space_.dimensions() == 0) throw InvalidSpace("search_space: the GP sampler needs at least one parameter");
  for (const auto& p : space_.parameters()) {
    const int width = p.type == ParamType::Categorical ? static_cast<int>(std::max<std::size_t>(1, p.choices.size())) : 1;
    slots_.push_back({dim_, width});
    dim_ += width;
  }
  options_.bayes.seed = seed;
  options_.bayes.pending = options_.pending.value_or(default_pending(space_));
  // BayesOptimizer would count one-hot coordinates; the sampler counts parameters.
  if (options_.bayes.initial_points <= 0) options_.bayes.initial_points = initial_design_size(space_);
  if (!options_.tpe_every) options_.tpe_every = default_tpe_every(space_);
  if (*options_.tpe_every < 0 || options_.tpe_draws < 1)
    throw std::invalid_argument("GpSampler: tpe_every must be >= 0 and tpe_draws >= 1");
}

// Counted with the warm-start trials, as the initial design is: a warm start
// past the design size takes TPE's draws from its first suggestion on.
bool GpSampler::takes_tpe_draws(std::uint64_t trial) const {
  const int k = *options_.tpe_every;
  const auto initial = static_cast<std::uint64_t>(options_.bayes.initial_points);
  const std::uint64_t counted = warm_.size() + trial;
  return k > 0 && counted >= initial && (counted - initial) % static_cast<std::uint64_t>(k) == 0;
}

// TPE's draws, encoded; warm-start trials count as part of the history.
std::vector<Eigen::VectorXd> GpSampler::tpe_draws(std::span<const Observation> history, std::span<const Params> pending,
                                                  std::uint64_t trial) const {
  std::vector<Params> draws;
  if (warm_.empty()) {
    draws = tpe_.draws_from_good(history, pending, trial, options_.tpe_draws);
  } else {
    std::vector<Observation> all = warm_;
    all.insert(all.end(), history.begin(), history.end());
    draws = tpe_.draws_from_good(all, pending, trial, options_.tpe_draws);
  }
  std::vector<Eigen::VectorXd> out;
  for (const auto& d : draws) out.push_back(to_model(d));
  return out;
}

void GpSampler::canonicalize(Eigen::Ref<Eigen::VectorXd> x) const {
  x = to_model(from_model(x));  // decode (rounding, argmax, activity), re-encode
}

Params GpSampler::from_model(const Eigen::VectorXd& x) const {
  Params params = Params::object();
  const auto parameters = space_.parameters();
  for (std::size_t i = 0; i < parameters.size(); ++i) {
    const auto& p = parameters[i];
    if (!space_.is_active(p, params)) continue;
    const Slot& s = slots_[i];
    if (p.type == ParamType::Categorical) {
      Eigen::Index best = 0;
      x.segment(s.offset, s.width).maxCoeff(&best);
      params[p.name] = p.choices[static_cast<std::size_t>(best)];
    } else {
      params[p.name] = p.from_unit(std::clamp(x(s.offset), 0.0, 1.0));
    }
  }
  return params;
}

Eigen::VectorXd GpSampler::to_model(const Params& params) const {
  Eigen::VectorXd x = Eigen::VectorXd::Constant(dim_, kInactiveCoordinate);
  const auto parameters = space_.parameters();
  for (std::size_t i = 0; i < parameters.size(); ++i) {
    const auto& p = parameters[i];
    if (!params.contains(p.name)) continue;
    const Slot& s = slots_[i];
    if (p.type == ParamType::Categorical) {
      const auto it = std::find(p.choices.begin(), p.choices.end(), params[p.name]);
      x.segment(s.offset, s.width).setZero();
      x(s.offset + (it - p.choices.begin())) = 1.0;
    } else {
      x(s.offset) = p.to_unit(params[p.name]);
    }
  }
  return x;
}

// The active parameters of `partial` in space order; one it newly activates
// (e.g. rank after method changed) starts at the middle of its range.
Params GpSampler::completed(const Params& partial) const {
  Params out = Params::object();
  for (const auto& p : space_.parameters()) {
    if (!space_.is_active(p, out)) continue;
    out[p.name] = partial.contains(p.name) ? partial[p.name] : p.from_unit(0.5);
  }
  return out;
}

std::vector<Eigen::VectorXd> GpSampler::neighbours(const Eigen::VectorXd& x) const {
  const Params params = from_model(x);
  std::vector<Eigen::VectorXd> out;
  const auto add = [&](const std::string& name, const nlohmann::json& value) {
    Params changed = params;
    changed[name] = value;
    out.push_back(to_model(completed(changed)));
  };
  for (const auto& p : space_.parameters()) {
    if (!params.contains(p.name)) continue;
    const auto& current = params[p.name];
    if (p.type == ParamType::Categorical) {
      for (const auto& c : p.choices)
        if (c != current) add(p.name, c);
    } else if (p.type == ParamType::Int) {
      const auto v = current.get<std::int64_t>();
      std::vector<std::int64_t> steps = {v - 1, v + 1};
      if (p.log) steps.insert(steps.end(), {2 * v, v / 2});
      for (const auto w : steps)
        if (w != v && w >= p.low && w <= p.high) add(p.name, w);
    }
  }
  return out;
}

void GpSampler::enqueue(const Params& params) {
  space_.validate(params);
  enqueued_.push_back(params);
}

void GpSampler::warm_start(std::vector<Observation> previous) {
  for (auto& o : previous) {
    if (o.status == ObservationStatus::Running) continue;
    space_.validate(o.params);
    warm_.push_back(std::move(o));
  }
}

namespace {

// The history in the optimiser's cube: running points, finished ones, and the
// objective vectors ParEGO scalarises.
struct CubeHistory {
  std::vector<Eigen::VectorXd> pending;
  std::vector<CubeObservation> observed;
  std::vector<Eigen::VectorXd> objective_rows;  // for ParEGO
  std::vector<int> objective_index;             // observed[] index of each row
};

CubeHistory to_cube(const GpSampler& sampler, const std::vector<const Observation*>& all) {
  CubeHistory h;
  for (const Observation* o : all) {
    Eigen::VectorXd x = sampler.to_model(o->params);
    if (o->status == ObservationStatus::Running) {
      h.pending.push_back(std::move(x));
      continue;
    }
    CubeObservation c{std::move(x), 0.0, PointOutcome::Completed, o->constraints};
    const bool completed = o->status == ObservationStatus::Completed || o->status == ObservationStatus::Pruned;
    if (o->status == ObservationStatus::Infeasible || breaks_constraint(*o)) {
      c.outcome = PointOutcome::Infeasible;
    } else if (o->status == ObservationStatus::Failed) {
      c.outcome = PointOutcome::Failed;
    } else if (completed && has_objective(*o)) {
      // A pruned trial keeps the value it was stopped at: pessimistic, which is what it deserves.
      h.objective_rows.push_back(Eigen::Map<const Eigen::VectorXd>(o->objectives.data(),
                                                                  static_cast<Eigen::Index>(o->objectives.size())));
      h.objective_index.push_back(static_cast<int>(h.observed.size()));
      c.y = o->objectives.front();
    } else if (completed && !o->intermediate.empty()) {
      c.y = o->intermediate.back().value;
    } else {
      continue;  // nothing to learn from
    }
    h.observed.push_back(std::move(c));
  }
  return h;
}

}  // namespace

std::vector<Params> GpSampler::suggest(int n, std::span<const Observation> history) {
  std::vector<Params> out;
  if (n <= 0) return out;
  // Enqueued points first.
  for (const auto& e : enqueued_) {
    if (static_cast<int>(out.size()) >= n) return out;
    const bool seen = std::any_of(history.begin(), history.end(), [&](const Observation& o) { return o.params == e; });
    if (!seen) out.push_back(e);
  }

  std::vector<const Observation*> all;
  for (const auto& o : warm_) all.push_back(&o);
  for (const auto& o : history) all.push_back(&o);
  CubeHistory cube = to_cube(*this, all);
  for (const auto& p : out) cube.pending.push_back(to_model(p));

  BayesOptimizer& optimizer = this->optimizer();
  const bool multi = !cube.objective_rows.empty() && cube.objective_rows.front().size() > 1;
  if (!multi) {
    // Runs of GP suggestions in one batch, up to each trial that takes TPE's draws.
    while (static_cast<int>(out.size()) < n) {
      const std::uint64_t trial = history.size() + out.size();
      if (takes_tpe_draws(trial)) {
        const Eigen::VectorXd x = optimizer.choose(cube.observed, cube.pending, tpe_draws(history, out, trial));
        cube.pending.push_back(x);
        out.push_back(from_model(x));
        continue;
      }
      int block = 1;
      while (static_cast<int>(out.size()) + block < n && !takes_tpe_draws(trial + block)) ++block;
      for (auto& x : optimizer.suggest(cube.observed, cube.pending, block)) {
        cube.pending.push_back(x);
        out.push_back(from_model(x));
      }
    }
    return out;
  }
  // ParEGO: a fresh weight vector per suggestion, the earlier ones pending.
  const auto& rows = cube.objective_rows;
  Eigen::MatrixXd f(static_cast<Eigen::Index>(rows.size()), rows.front().size());
  for (std::size_t i = 0; i < rows.size(); ++i) f.row(static_cast<Eigen::Index>(i)) = rows[i].transpose();
  auto& observed = cube.observed;
  while (static_cast<int>(out.size()) < n) {
    std::mt19937_64 rng(mix_seed(seed_ ^ 0xBA7E60ull, history.size() + out.size()));
    const Eigen::VectorXd s = parego_scalarise(f, random_simplex_weights(static_cast<int>(f.cols()), rng),
                                               options_.parego_rho);
    std::vector<bool> scalarised(observed.size(), false);
    for (std::size_t i = 0; i < cube.objective_index.size(); ++i) {
      observed[cube.objective_index[i]].y = s(static_cast<Eigen::Index>(i));
      scalarised[cube.objective_index[i]] = true;
    }
    // Pruned trials know only the first objective, on another scale: the worst scalarised value.
    for (std::size_t i = 0; i < observed.size(); ++i) {
      if (!scalarised[i] && observed[i].outcome == PointOutcome::Completed) observed[i].y = s.maxCoeff();
    }
    const auto x = optimizer.suggest(observed, cube.pending, 1).front();
    cube.pending.push_back(x);
    out.push_back(from_model(x));
  }
  return out;
}

// The optimiser, made on first use: discrete coordinates are not moved by
// the gradient search, and points snap to valid configurations.
BayesOptimizer& GpSampler::optimizer() {
  if (optimizer_) return *optimizer_;
  CubeSpace cube;
  cube.dim = dim_;
  cube.continuous.assign(dim_, true);
  cube.lengthscale_groups.assign(dim_, 0);
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    // Ints and categoricals move only through neighbours (exact values); a
    // categorical's one-hot block shares one lengthscale (an exchangeable kernel).
    const bool discrete = space_.parameters()[i].type != ParamType::Float;
    for (int k = 0; k < slots_[i].width; ++k) {
      cube.continuous[slots_[i].offset + k] = !discrete;
      cube.lengthscale_groups[slots_[i].offset + k] = static_cast<int>(i);
    }
  }
  cube.canonicalize = [this](Eigen::Ref<Eigen::VectorXd> x) { canonicalize(x); };
  cube.neighbours = [this](const Eigen::VectorXd& x) { return neighbours(x); };
  optimizer_ = std::make_unique<BayesOptimizer>(cube, options_.bayes);
  return *optimizer_;
}

}  // namespace lorafarm::search
