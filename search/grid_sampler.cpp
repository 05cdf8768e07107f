// Grid enumeration by depth-first search over parameters in parents-first
// order, skipping parameters whose condition is not met.
#include "search/grid_sampler.h"

#include <algorithm>
#include <functional>

namespace lorafarm::search {

std::vector<Params> enumerate_grid(const SearchSpace& space) {
  std::vector<Params> out;
  const auto parameters = space.parameters();
  std::function<void(std::size_t, Params&)> visit = [&](std::size_t i, Params& current) {
    if (i == parameters.size()) {
      out.push_back(current);
      return;
    }
    const auto& p = parameters[i];
    if (!space.is_active(p, current)) {
      visit(i + 1, current);
      return;
    }
    for (const auto& value : p.grid_values()) {
      current[p.name] = value;
      visit(i + 1, current);
      current.erase(p.name);
    }
  };
  Params start = Params::object();
  visit(0, start);
  return out;
}

GridSampler::GridSampler(SearchSpace space, std::uint64_t seed, bool shuffle)
    : space_(std::move(space)), points_(enumerate_grid(space_)) {
  if (!shuffle) return;
  // Fisher-Yates with the counter-based hash, so the order depends only on the seed.
  for (std::size_t i = points_.size(); i > 1; --i) {
    const std::size_t j = mix_seed(seed, i) % i;
    std::swap(points_[i - 1], points_[j]);
  }
}

std::vector<Params> GridSampler::suggest(int n, std::span<const Observation> history) {
  std::vector<Params> out;
  for (std::size_t i = history.size(); i < points_.size() && out.size() < static_cast<std::size_t>(std::max(n, 0)); ++i)
    out.push_back(points_[i]);
  return out;
}

}  // namespace lorafarm::search
