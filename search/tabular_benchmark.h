// A tabular benchmark: configurations a real sweep ran, each with its final
// value and learning curve. A suggested configuration is scored by the nearest
// stored one (docs/search.md, "LoRA tables"), so a sampler can be benchmarked
// on real training results without training.
#pragma once

#include <filesystem>
#include <vector>

#include "search/sampler.h"
#include "search/search_space.h"

namespace lorafarm::search {

struct TabularEntry {
  Params params;
  double value = 0.0;                     // the final objective, minimised
  std::vector<IntermediateValue> curve;   // the objective at each evaluation step
};

class TabularBenchmark {
 public:
  // Every entry is validated against the space; throws InvalidSpace naming it.
  TabularBenchmark(SearchSpace space, std::vector<TabularEntry> entries);
  // The format scripts/export_lora_table.py writes: {"search_space", "trials":
  // [{"params", "val_loss", "curve": [[step, value], ...]}]}.
  static TabularBenchmark from_json(const nlohmann::json& table);
  // Reads that file; throws std::runtime_error naming the path.
  static TabularBenchmark load(const std::filesystem::path& path);

  const SearchSpace& space() const { return space_; }
  const std::vector<TabularEntry>& entries() const { return entries_; }
  // The index of the stored configuration nearest `params`: fewest parameters
  // that differ in a categorical value or in being active, then the smallest
  // Euclidean distance in the search space's unit cube over the numeric
  // parameters both have; ties go to the earlier entry.
  std::size_t nearest(const Params& params) const;
  const TabularEntry& lookup(const Params& params) const { return entries_[nearest(params)]; }
  double minimum() const { return minimum_; }

 private:
  SearchSpace space_;
  std::vector<TabularEntry> entries_;
  std::vector<Encoded> encoded_;
  double minimum_ = 0.0;
};

}  // namespace lorafarm::search
