// Chooses the sampler a sweep spec asks for.
#pragma once

#include <memory>
#include <vector>

#include "schema/store.h"
#include "schema/sweep_spec.h"
#include "search/sampler.h"

namespace lorafarm::coordinator {

// "random", "sobol", "grid" or "gp" (schema::known_algorithms()); throws
// SpecError otherwise. The spec's `search.enqueue` configurations come first;
// `warm_start` (gp) are another experiment's finished trials, already in this
// spec's space and objectives (warm_start_observations).
std::unique_ptr<search::Sampler> make_sampler(const schema::SweepSpec& spec,
                                              std::vector<search::Observation> warm_start = {});

// The finished trials of `previous` as observations of `spec`'s sampler: its
// objectives read from each trial's result (a completed trial without them,
// or whose parameters do not fit spec's space, is left out; `left_out` counts
// them). Failed, lost and infeasible trials come as such.
std::vector<search::Observation> warm_start_observations(schema::Store& store, const schema::ExperimentRecord& previous,
                                                         const schema::SweepSpec& spec, int& left_out);

}  // namespace lorafarm::coordinator
