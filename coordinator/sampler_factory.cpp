// The sampler registry: a new sampler adds a line here and its name to
// schema::known_algorithms().
#include "coordinator/sampler_factory.h"

#include "search/gp_sampler.h"
#include "search/grid_sampler.h"
#include "search/random_sampler.h"
#include "search/sobol_sampler.h"

namespace lorafarm::coordinator {

std::unique_ptr<search::Sampler> make_sampler(const schema::SweepSpec& spec) {
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
  if (spec.algorithm == "gp") return std::make_unique<search::GpSampler>(spec.space, seed);
  throw schema::SpecError("search.algorithm: '" + spec.algorithm + "' is not available in this build");
}

}  // namespace lorafarm::coordinator
