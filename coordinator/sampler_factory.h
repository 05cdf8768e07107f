// Chooses the sampler a sweep spec asks for.
#pragma once

#include <memory>

#include "schema/sweep_spec.h"
#include "search/sampler.h"

namespace lorafarm::coordinator {

// "random", "sobol" or "grid" (schema::known_algorithms()); throws SpecError otherwise.
std::unique_ptr<search::Sampler> make_sampler(const schema::SweepSpec& spec);

}  // namespace lorafarm::coordinator
