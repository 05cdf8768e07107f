// run_with_pruner: the sequential multi-fidelity loop and its cost accounting.
#include "search/multi_fidelity_run.h"

#include <limits>
#include <stdexcept>

namespace lorafarm::search {
namespace {

// Trains the last trial of run.history along its curve; false when the budget ran out.
bool train(FidelityRun& run, std::optional<Asha>& pruner, const std::vector<IntermediateValue>& points,
           double total_cost) {
  Observation& o = run.history.back();
  double previous_step = 0.0;
  for (std::size_t i = 0; i < points.size(); ++i) {
    const double step = static_cast<double>(points[i].step);
    if (run.cost + (step - previous_step) > total_cost) return false;
    run.cost += step - previous_step;
    previous_step = step;
    o.intermediate.push_back(points[i]);
    if (i + 1 == points.size()) {
      o.status = ObservationStatus::Completed;
      o.objectives = {points[i].value};
      run.completions.push_back({run.cost, points[i].value});
      if (pruner) pruner->report(o.trial_number, step, points[i].value);  // its rungs stay complete
      return true;
    }
    if (pruner && pruner->report(o.trial_number, step, points[i].value) == AshaDecision::Stop) {
      o.status = ObservationStatus::Pruned;
      o.objectives = {points[i].value};
      return true;
    }
  }
  return true;
}

}  // namespace

FidelityRun run_with_pruner(Sampler& sampler, std::optional<Asha> pruner, const CurveOf& curve, double total_cost) {
  FidelityRun run;
  while (run.cost < total_cost) {
    const auto suggested = sampler.suggest(1, run.history);
    if (suggested.empty()) break;  // the sampler is exhausted
    Observation o;
    o.trial_number = static_cast<std::int64_t>(run.history.size());
    o.params = suggested.front();
    const auto points = curve(o.params);
    if (points.empty()) throw std::invalid_argument("run_with_pruner: a configuration has an empty curve");
    run.history.push_back(std::move(o));
    if (!train(run, pruner, points, total_cost)) break;
    sampler.tell(run.history.back());
  }
  return run;
}

double best_final_within(const FidelityRun& run, double cost) {
  double best = std::numeric_limits<double>::infinity();
  for (const auto& c : run.completions)
    if (c.cost <= cost && c.value < best) best = c.value;
  return best;
}

}  // namespace lorafarm::search
