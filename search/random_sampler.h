// Uniform random search over the unit cube (log and int warping come from the
// space's encoding). Point i depends only on (seed, i).
#pragma once

#include "search/sampler.h"

namespace lorafarm::search {

class RandomSampler : public Sampler {
 public:
  RandomSampler(SearchSpace space, std::uint64_t seed);
  std::vector<Params> suggest(int n, std::span<const Observation> history) override;
  std::string name() const override { return "random"; }
  // The i-th point of the sequence.
  Params point(std::uint64_t index) const;

 private:
  SearchSpace space_;
  std::uint64_t seed_;
};

}  // namespace lorafarm::search
