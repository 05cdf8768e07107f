// Grid search: every combination of each active parameter's grid values
// (categorical choices; grid_points values for float/int), with conditional
// parameters enumerated only where active, so no two points are equivalent.
// Points come in a seed-shuffled order; the sampler is exhausted after the last.
#pragma once

#include "search/sampler.h"

namespace lorafarm::search {

class GridSampler : public Sampler {
 public:
  GridSampler(SearchSpace space, std::uint64_t seed, bool shuffle = true);
  std::vector<Params> suggest(int n, std::span<const Observation> history) override;
  std::string name() const override { return "grid"; }
  const std::vector<Params>& points() const { return points_; }

 private:
  SearchSpace space_;
  std::vector<Params> points_;
};

// All grid points of a space, in enumeration order (parents first).
std::vector<Params> enumerate_grid(const SearchSpace& space);

}  // namespace lorafarm::search
