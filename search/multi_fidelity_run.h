// A sequential (one-worker) sweep on a problem whose trials report learning
// curves, optionally pruned by ASHA, counting the training spent: what the
// multi-fidelity benchmark runs and what its tests check by hand.
#pragma once

#include <functional>
#include <optional>
#include <vector>

#include "search/asha.h"
#include "search/sampler.h"

namespace lorafarm::search {

// A configuration's curve: (step, objective) at ascending steps; the last step
// is the full budget and its value the trial's final objective.
using CurveOf = std::function<std::vector<IntermediateValue>(const Params&)>;

struct Completion {
  double cost = 0.0;   // training spent in the whole run when the trial completed
  double value = 0.0;  // its final objective
};

struct FidelityRun {
  std::vector<Observation> history;     // every trial as the sampler last saw it
  std::vector<Completion> completions;  // in order of completion
  double cost = 0.0;                    // training spent (a trial stopped at step s cost s)
};

// Suggests one trial at a time, trains it point by point (each point costs the
// steps since the previous one), reports each point to `pruner` and stops the
// trial when it says so. Ends when the next point would exceed `total_cost`
// (that trial is left Running). Without a pruner every trial runs its curve.
FidelityRun run_with_pruner(Sampler& sampler, std::optional<Asha> pruner, const CurveOf& curve, double total_cost);

// The best final objective among trials completed within `cost` (+inf if none).
double best_final_within(const FidelityRun& run, double cost);

}  // namespace lorafarm::search
