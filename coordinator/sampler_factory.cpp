// The sampler registry: a new sampler adds a line here and its name to
// schema::known_algorithms().
#include "coordinator/sampler_factory.h"

#include <algorithm>

#include "search/asha.h"
#include "search/enqueued_sampler.h"
#include "search/gp_sampler.h"
#include "search/grid_sampler.h"
#include "search/multi_fidelity_sampler.h"
#include "search/random_sampler.h"
#include "search/sobol_sampler.h"
#include "search/tpe_sampler.h"

namespace lorafarm::coordinator {

namespace {

// "bohb": one model per budget, the budgets being every rung of the scheduler's
// brackets and its full budget (the spec parser checked the scheduler is ASHA).
std::unique_ptr<search::Sampler> make_multi_fidelity(const schema::SweepSpec& spec, std::uint64_t seed) {
  const auto& s = spec.scheduler;
  search::MultiFidelityOptions options;
  options.gp.bayes.initial_points = spec.initial_trials;
  options.random_fraction = spec.algorithm_options.value("random_fraction", 0.0);
  try {
    const search::Asha asha({s.min_resource, s.max_resource, s.reduction_factor, s.brackets});
    for (int b = 0; b < s.brackets; ++b)
      for (double r : asha.rungs(b)) options.budgets.push_back(r);
    options.budgets.push_back(s.max_resource);
    std::sort(options.budgets.begin(), options.budgets.end());
    options.budgets.erase(std::unique(options.budgets.begin(), options.budgets.end()), options.budgets.end());
    return std::make_unique<search::MultiFidelitySampler>(spec.space, seed, options);
  } catch (const std::invalid_argument& e) {
    throw schema::SpecError(std::string("search.algorithm: ") + e.what());
  }
}

std::unique_ptr<search::Sampler> make_algorithm(const schema::SweepSpec& spec, std::vector<search::Observation> warm_start) {
  // The sampler's seed is derived, not equal to the experiment seed, so it is
  // independent of the per-trial seeds.
  const std::uint64_t seed = search::mix_seed(spec.seed, 0x5a3b1e5ull);
  if (spec.algorithm == "random") return std::make_unique<search::RandomSampler>(spec.space, seed);
  if (spec.algorithm == "sobol") {
    try {
      return std::make_unique<search::SobolSampler>(spec.space, seed);
    } catch (const std::invalid_argument& e) {
      throw schema::SpecError(std::string("search.algorithm: ") + e.what());
    }
  }
  if (spec.algorithm == "grid") {
    const bool shuffle = !spec.algorithm_options.contains("shuffle") || spec.algorithm_options["shuffle"] != false;
    return std::make_unique<search::GridSampler>(spec.space, seed, shuffle);
  }
  if (spec.algorithm == "gp") {
    search::GpSamplerOptions options;
    options.bayes.initial_points = spec.initial_trials;
    auto gp = std::make_unique<search::GpSampler>(spec.space, seed, options);
    gp->warm_start(std::move(warm_start));
    return gp;
  }
  if (spec.algorithm == "bohb") return make_multi_fidelity(spec, seed);
  if (spec.algorithm == "tpe") {
    search::TpeOptions options;
    if (spec.initial_trials > 0) options.startup_trials = spec.initial_trials;
    return std::make_unique<search::TpeSampler>(spec.space, seed, options);
  }
  throw schema::SpecError("search.algorithm: '" + spec.algorithm + "' is not available in this build");
}

search::ObservationStatus status_of(schema::TrialStatus s) {
  switch (s) {
    case schema::TrialStatus::Completed: return search::ObservationStatus::Completed;
    case schema::TrialStatus::Infeasible: return search::ObservationStatus::Infeasible;
    case schema::TrialStatus::Pruned: return search::ObservationStatus::Pruned;
    default: return search::ObservationStatus::Failed;
  }
}

}  // namespace

std::unique_ptr<search::Sampler> make_sampler(const schema::SweepSpec& spec, std::vector<search::Observation> warm_start) {
  auto sampler = make_algorithm(spec, std::move(warm_start));
  if (spec.enqueue.empty()) return sampler;
  return std::make_unique<search::EnqueuedFirst>(std::move(sampler), spec.enqueue);
}

std::vector<search::Observation> warm_start_observations(schema::Store& store, const schema::ExperimentRecord& previous,
                                                         const schema::SweepSpec& spec, int& left_out) {
  std::vector<search::Observation> out;
  left_out = 0;
  std::vector<schema::Objective> objectives = {spec.objective};
  objectives.insert(objectives.end(), spec.more_objectives.begin(), spec.more_objectives.end());
  for (const auto& t : store.trials(previous.id)) {
    if (t.status == schema::TrialStatus::Queued || t.status == schema::TrialStatus::Running) continue;
    try {
      spec.space.validate(t.params);
    } catch (const search::InvalidSpace&) {
      ++left_out;
      continue;
    }
    search::Observation o{t.number, t.params, status_of(t.status), {}, {}, {}};
    if (o.status == search::ObservationStatus::Completed || o.status == search::ObservationStatus::Infeasible) {
      const auto result = store.result(t.id);
      for (const auto& objective : objectives) {
        const auto value = result ? result->metric(objective.metric) : std::nullopt;
        if (!value) break;
        o.objectives.push_back(objective.minimised(*value));
      }
      if (o.objectives.size() != objectives.size()) {
        ++left_out;
        continue;
      }
    } else if (o.status == search::ObservationStatus::Pruned) {
      o.status = search::ObservationStatus::Failed;  // its curve is not this sweep's: only "not good here"
    }
    out.push_back(std::move(o));
  }
  return out;
}

}  // namespace lorafarm::coordinator
