// MultiFidelitySampler: the history split by budget, one GP per budget.
#include "search/multi_fidelity_sampler.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace lorafarm::search {
namespace {

constexpr double kStepTolerance = 1e-12;  // as ASHA: a report at step r·(1−1e-12) counts as reaching r

MultiFidelityOptions checked(MultiFidelityOptions options, const SearchSpace& space) {
  const auto& b = options.budgets;
  if (b.empty()) throw std::invalid_argument("bohb: needs at least one budget (the full budget)");
  for (std::size_t k = 0; k < b.size(); ++k) {
    if (!(b[k] > 0) || (k > 0 && !(b[k] > b[k - 1])))
      throw std::invalid_argument("bohb: budgets must be positive and ascending, got " + std::to_string(b[k]) +
                                  " at position " + std::to_string(k));
  }
  if (!(options.random_fraction >= 0 && options.random_fraction < 1))
    throw std::invalid_argument("bohb: random_fraction must be in [0, 1), got " + std::to_string(options.random_fraction));
  if (options.min_points < 0) throw std::invalid_argument("bohb: min_points must be >= 0");
  if (options.min_points == 0) {
    // The GP of a budget must be past its own initial design when it is used.
    const int dims = static_cast<int>(space.dimensions());
    int design = options.gp.bayes.initial_points;
    if (design <= 0) design = GpSampler(space, 0).initial_points();
    options.min_points = std::max(dims + 1, design);
  }
  return options;
}

}  // namespace

MultiFidelitySampler::MultiFidelitySampler(SearchSpace space, std::uint64_t seed, MultiFidelityOptions options)
    : space_(std::move(space)),
      seed_(seed),
      options_(checked(std::move(options), space_)),
      random_(space_, mix_seed(seed, 0xB0B0ull)) {
  for (std::size_t k = 0; k < options_.budgets.size(); ++k)
    models_.push_back(std::make_unique<GpSampler>(space_, mix_seed(seed, k + 1), options_.gp));
}

std::optional<double> MultiFidelitySampler::value_at(const Observation& o, std::size_t k) const {
  const bool full = k + 1 == options_.budgets.size();
  if (full && o.status == ObservationStatus::Completed && !o.objectives.empty()) return o.objectives.front();
  const double budget = options_.budgets.at(k);
  for (const auto& v : o.intermediate)
    if (static_cast<double>(v.step) >= budget * (1 - kStepTolerance) && std::isfinite(v.value)) return v.value;
  return std::nullopt;
}

std::vector<Observation> MultiFidelitySampler::budget_history(std::size_t k, std::span<const Observation> history) const {
  const auto shifts = options_.stopped == StoppedTrials::Shifted ? median_changes(k, history)
                                                                 : std::vector<std::optional<double>>(k);
  std::vector<Observation> out;
  for (const auto& o : history) {
    Observation seen{o.trial_number, o.params, o.status, {}, o.constraints, {}};
    const auto value = value_at(o, k);
    const bool failed = o.status == ObservationStatus::Failed || o.status == ObservationStatus::Infeasible;
    if (failed) {
      seen.objectives = o.objectives;
    } else if (value) {
      seen.status = ObservationStatus::Completed;
      seen.objectives = {*value};
    } else if (o.status == ObservationStatus::Running) {
      // Pending at this budget (it may still get there).
    } else if (const auto stood_for = o.status == ObservationStatus::Pruned ? stopped_value(o, k, shifts) : std::nullopt) {
      seen.status = ObservationStatus::Completed;
      seen.objectives = {*stood_for};
    } else {
      continue;  // stopped below this budget, or completed without a report here: nothing to learn
    }
    out.push_back(std::move(seen));
  }
  return out;
}

std::vector<std::optional<double>> MultiFidelitySampler::median_changes(std::size_t k,
                                                                       std::span<const Observation> history) const {
  std::vector<std::optional<double>> out(k);
  for (std::size_t j = 0; j < k; ++j) {
    std::vector<double> changes;
    for (const auto& o : history) {
      const auto from = value_at(o, j), to = value_at(o, k);
      if (from && to) changes.push_back(*to - *from);
    }
    if (changes.empty()) continue;
    const auto middle = changes.begin() + static_cast<std::ptrdiff_t>(changes.size() / 2);
    std::nth_element(changes.begin(), middle, changes.end());
    out[j] = *middle;
  }
  return out;
}

std::optional<double> MultiFidelitySampler::stopped_value(const Observation& o, std::size_t k,
                                                         const std::vector<std::optional<double>>& shifts) const {
  if (options_.stopped == StoppedTrials::Exclude || o.intermediate.empty()) return std::nullopt;
  if (options_.stopped == StoppedTrials::LastValue) return o.intermediate.back().value;
  for (std::size_t j = k; j-- > 0;) {
    if (const auto at = value_at(o, j)) return *at + shifts[j].value_or(0.0);  // the last budget it reached
  }
  return o.intermediate.back().value;  // stopped before the first budget
}

std::size_t MultiFidelitySampler::model_budget(std::span<const Observation> history) const {
  for (std::size_t k = options_.budgets.size(); k-- > 1;) {
    const auto reached = std::count_if(history.begin(), history.end(), [&](const Observation& o) {
      return o.status != ObservationStatus::Failed && o.status != ObservationStatus::Infeasible && value_at(o, k);
    });
    if (reached >= options_.min_points) return k;
  }
  return 0;
}

bool MultiFidelitySampler::random_draw(std::uint64_t index) const {
  if (options_.random_fraction <= 0) return false;
  const double u = static_cast<double>(mix_seed(seed_ ^ 0x5EEDF00Dull, index) >> 11) * 0x1.0p-53;
  return u < options_.random_fraction;
}

std::vector<Params> MultiFidelitySampler::suggest(int n, std::span<const Observation> history) {
  std::vector<Params> out;
  if (n <= 0) return out;
  last_budget_ = model_budget(history);
  std::vector<Observation> seen = budget_history(last_budget_, history);
  // Random draws only once the model is past its design (the design is space-filling already).
  const bool modelled = std::count_if(seen.begin(), seen.end(), [](const Observation& o) {
                          return o.status == ObservationStatus::Completed;
                        }) >= options_.min_points;
  for (int i = 0; i < n; ++i) {
    const std::uint64_t index = history.size() + static_cast<std::uint64_t>(i);
    Params p = modelled && random_draw(index) ? random_.point(index)
                                              : models_[last_budget_]->suggest(1, seen).at(0);
    Observation pending;
    pending.trial_number = static_cast<std::int64_t>(index);
    pending.params = p;
    seen.push_back(std::move(pending));  // running: the next suggestion of the batch goes elsewhere
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace lorafarm::search
