// TPE: the good/bad split of the history and one parameter at a time.
#include "search/tpe_sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "search/parzen_estimator.h"

namespace lorafarm::search {
namespace {

// The history ranked for TPE: the good trials (best values) and the others.
// Failed, infeasible, constraint-breaking and running trials are never good:
// counting running ones as bad spreads parallel suggestions (a constant liar).
struct Split {
  std::vector<const Params*> good, bad;  // each in trial order
};

bool usable_value(const Observation& o) {
  const bool finished = o.status == ObservationStatus::Completed || o.status == ObservationStatus::Pruned;
  const bool feasible = std::all_of(o.constraints.begin(), o.constraints.end(), [](double c) { return c <= 0.0; });
  return finished && feasible && !o.objectives.empty() && std::isfinite(o.objectives.front());
}

Split split_history(std::span<const Observation> history, std::span<const Params> pending) {
  std::vector<std::size_t> scored;
  for (std::size_t i = 0; i < history.size(); ++i)
    if (usable_value(history[i])) scored.push_back(i);
  std::stable_sort(scored.begin(), scored.end(), [&](std::size_t a, std::size_t b) {
    return history[a].objectives.front() < history[b].objectives.front();
  });
  const std::size_t n = history.size() + pending.size();
  const std::size_t n_good = std::min<std::size_t>({static_cast<std::size_t>(std::ceil(0.1 * static_cast<double>(n))),
                                                     25, scored.size()});
  std::vector<bool> good(history.size(), false);
  for (std::size_t r = 0; r < n_good; ++r) good[scored[r]] = true;
  Split s;
  for (std::size_t i = 0; i < history.size(); ++i) (good[i] ? s.good : s.bad).push_back(&history[i].params);
  for (const auto& p : pending) s.bad.push_back(&p);
  return s;
}

// The values of one parameter in the trials where it is active: unit
// coordinates (numeric) or choice indices (categorical).
struct Values {
  std::vector<double> unit;
  std::vector<int> choice;
};

Values values_of(const Parameter& p, const std::vector<const Params*>& trials) {
  Values v;
  for (const Params* t : trials) {
    if (!t->contains(p.name)) continue;
    const auto& value = (*t)[p.name];
    if (p.type == ParamType::Categorical) {
      const auto it = std::find(p.choices.begin(), p.choices.end(), value);
      if (it != p.choices.end()) v.choice.push_back(static_cast<int>(it - p.choices.begin()));
    } else {
      v.unit.push_back(p.to_unit(value));
    }
  }
  return v;
}

// The best of `count` draws from l by log l − log g. Ints are scored at the
// centre of the value they round to, so draws of one value score alike.
nlohmann::json best_numeric(const Parameter& p, const Values& good, const Values& bad, double prior, int count,
                            std::mt19937_64& rng) {
  const NumericParzen l(good.unit, tpe_weights(good.unit.size()), prior);
  const NumericParzen g(bad.unit, tpe_weights(bad.unit.size()), prior);
  double best_score = -std::numeric_limits<double>::infinity();
  nlohmann::json best = p.from_unit(0.5);
  for (int i = 0; i < count; ++i) {
    const double u = l.sample(rng);
    const nlohmann::json value = p.from_unit(u);
    const double at = p.type == ParamType::Int ? p.to_unit(value) : u;
    const double score = l.log_density(at) - g.log_density(at);
    if (score > best_score) {
      best_score = score;
      best = value;
    }
  }
  return best;
}

nlohmann::json best_choice(const Parameter& p, const Values& good, const Values& bad, double prior, int count,
                           std::mt19937_64& rng) {
  const int k = static_cast<int>(p.choices.size());
  const CategoricalParzen l(good.choice, tpe_weights(good.choice.size()), k, prior);
  const CategoricalParzen g(bad.choice, tpe_weights(bad.choice.size()), k, prior);
  double best_score = -std::numeric_limits<double>::infinity();
  int best = 0;
  for (int i = 0; i < count; ++i) {
    const int c = l.sample(rng);
    const double score = l.log_probability(c) - g.log_probability(c);
    if (score > best_score) {
      best_score = score;
      best = c;
    }
  }
  return p.choices[static_cast<std::size_t>(best)];
}

}  // namespace

TpeSampler::TpeSampler(SearchSpace space, std::uint64_t seed, TpeOptions options)
    : space_(std::move(space)), seed_(seed), options_(options), random_(space_, seed) {
  if (space_.dimensions() == 0) throw InvalidSpace("search_space: the TPE sampler needs at least one parameter");
}

Params TpeSampler::propose(std::span<const Observation> history, std::span<const Params> pending,
                           std::uint64_t index) const {
  const Split split = split_history(history, pending);
  std::mt19937_64 rng(mix_seed(seed_ ^ 0x7BE5A3ull, index));
  Params out = Params::object();
  for (const auto& p : space_.parameters()) {  // parents first
    if (!space_.is_active(p, out)) continue;
    const Values good = values_of(p, split.good), bad = values_of(p, split.bad);
    out[p.name] = p.type == ParamType::Categorical
                      ? best_choice(p, good, bad, options_.prior_weight, options_.candidates, rng)
                      : best_numeric(p, good, bad, options_.prior_weight, options_.candidates, rng);
  }
  return out;
}

std::vector<Params> TpeSampler::draws_from_good(std::span<const Observation> history, std::span<const Params> pending,
                                                std::uint64_t index, int count) const {
  const Split split = split_history(history, pending);
  std::mt19937_64 rng(mix_seed(seed_ ^ 0xD4A5ull, index));
  std::vector<Params> out(static_cast<std::size_t>(count), Params::object());
  for (const auto& p : space_.parameters()) {
    const Values good = values_of(p, split.good);
    if (p.type == ParamType::Categorical) {
      const CategoricalParzen l(good.choice, tpe_weights(good.choice.size()), static_cast<int>(p.choices.size()),
                                options_.prior_weight);
      for (auto& o : out)
        if (space_.is_active(p, o)) o[p.name] = p.choices[static_cast<std::size_t>(l.sample(rng))];
    } else {
      const NumericParzen l(good.unit, tpe_weights(good.unit.size()), options_.prior_weight);
      for (auto& o : out)
        if (space_.is_active(p, o)) o[p.name] = p.from_unit(l.sample(rng));
    }
  }
  return out;
}

std::vector<Params> TpeSampler::suggest(int n, std::span<const Observation> history) {
  std::vector<Params> out;
  const auto finished = std::count_if(history.begin(), history.end(),
                                      [](const Observation& o) { return o.status != ObservationStatus::Running; });
  for (int i = 0; i < n; ++i) {
    const std::uint64_t index = history.size() + out.size();
    out.push_back(finished < options_.startup_trials ? random_.point(index) : propose(history, out, index));
  }
  return out;
}

}  // namespace lorafarm::search
