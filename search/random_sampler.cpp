// Random sampler: coordinates from a counter-based hash, so a resumed sweep
// draws exactly the points it would have drawn without the interruption.
#include "search/random_sampler.h"

namespace lorafarm::search {

RandomSampler::RandomSampler(SearchSpace space, std::uint64_t seed) : space_(std::move(space)), seed_(seed) {}

Params RandomSampler::point(std::uint64_t index) const {
  std::vector<double> u(space_.dimensions());
  const std::uint64_t base = mix_seed(seed_, index);
  for (std::size_t d = 0; d < u.size(); ++d) {
    // 53 random bits -> [0, 1).
    u[d] = static_cast<double>(mix_seed(base, d) >> 11) * 0x1.0p-53;
  }
  return space_.decode(u);
}

std::vector<Params> RandomSampler::suggest(int n, std::span<const Observation> history) {
  std::vector<Params> out;
  for (int i = 0; i < n; ++i) out.push_back(point(history.size() + static_cast<std::uint64_t>(i)));
  return out;
}

}  // namespace lorafarm::search
