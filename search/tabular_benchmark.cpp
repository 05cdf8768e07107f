// TabularBenchmark: loading a stored sweep and the nearest-configuration rule.
#include "search/tabular_benchmark.h"

#include <fstream>
#include <limits>
#include <stdexcept>

namespace lorafarm::search {
namespace {

// Categorical and activity mismatches first, then the unit-cube distance: a
// mismatch costs more than any squared numeric distance can (each ≤ 1).
double distance(const SearchSpace& space, const Encoded& a, const Encoded& b) {
  const auto parameters = space.parameters();
  const double mismatch = static_cast<double>(parameters.size()) + 1.0;
  double d = 0.0;
  for (std::size_t i = 0; i < parameters.size(); ++i) {
    if (a.active[i] != b.active[i]) {
      d += mismatch;
    } else if (!a.active[i]) {
      continue;
    } else if (parameters[i].type == ParamType::Categorical) {
      if (a.x[i] != b.x[i]) d += mismatch;
    } else {
      d += (a.x[i] - b.x[i]) * (a.x[i] - b.x[i]);
    }
  }
  return d;
}

}  // namespace

TabularBenchmark::TabularBenchmark(SearchSpace space, std::vector<TabularEntry> entries)
    : space_(std::move(space)), entries_(std::move(entries)) {
  if (entries_.empty()) throw InvalidSpace("tabular benchmark: the table has no entries");
  minimum_ = std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    try {
      space_.validate(entries_[i].params);
    } catch (const InvalidSpace& e) {
      throw InvalidSpace("tabular benchmark: entry " + std::to_string(i) + ": " + e.what());
    }
    encoded_.push_back(space_.encode(entries_[i].params));
    minimum_ = std::min(minimum_, entries_[i].value);
  }
}

TabularBenchmark TabularBenchmark::from_json(const nlohmann::json& table) {
  std::vector<TabularEntry> entries;
  for (const auto& t : table.at("trials")) {
    TabularEntry e{t.at("params"), t.at("val_loss").get<double>(), {}};
    for (const auto& point : t.value("curve", nlohmann::json::array()))
      e.curve.push_back({point.at(0).get<std::int64_t>(), point.at(1).get<double>()});
    entries.push_back(std::move(e));
  }
  return TabularBenchmark(SearchSpace::from_json(table.at("search_space")), std::move(entries));
}

TabularBenchmark TabularBenchmark::load(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path.string() + ": cannot open the tabular benchmark");
  try {
    return from_json(nlohmann::json::parse(in));
  } catch (const std::exception& e) {
    throw std::runtime_error(path.string() + ": " + e.what());
  }
}

std::size_t TabularBenchmark::nearest(const Params& params) const {
  const Encoded query = space_.encode(params);
  std::size_t best = 0;
  double best_distance = std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < encoded_.size(); ++i) {
    const double d = distance(space_, query, encoded_[i]);
    if (d < best_distance) {
      best_distance = d;
      best = i;
    }
  }
  return best;
}

}  // namespace lorafarm::search
