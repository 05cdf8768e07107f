// ASHA rung bookkeeping and promotion rule.
#include "search/asha.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace lorafarm::search {

Asha::Asha(AshaOptions options) : options_(options) {
  if (!(options_.min_resource > 0)) throw std::invalid_argument("asha: min_resource must be > 0");
  if (!(options_.max_resource >= options_.min_resource))
    throw std::invalid_argument("asha: max_resource must be >= min_resource");
  if (!(options_.reduction_factor >= 2)) throw std::invalid_argument("asha: reduction_factor must be >= 2");
  if (options_.brackets < 1) throw std::invalid_argument("asha: brackets must be >= 1");
  for (int b = 0; b < options_.brackets; ++b) {
    if (b > 0 && rungs(b).empty())
      throw std::invalid_argument("asha: brackets=" + std::to_string(options_.brackets) +
                                  " leaves bracket " + std::to_string(b) + " without a rung below max_resource");
    recorded_.emplace_back(rungs(b).size());
  }
}

std::vector<double> Asha::rungs(int bracket) const {
  std::vector<double> out;
  for (int k = 0;; ++k) {
    const double r = options_.min_resource * std::pow(options_.reduction_factor, bracket + k);
    if (r >= options_.max_resource * (1 - 1e-12)) break;
    out.push_back(r);
  }
  return out;
}

int Asha::bracket_of(std::int64_t trial) const {
  const auto b = trial % options_.brackets;
  return static_cast<int>(b < 0 ? b + options_.brackets : b);
}

// In the top ⌊n/η⌋ of the n values (ties favour the trial), or the best so far
// while fewer than η values have arrived.
bool Asha::promotable(const std::vector<double>& values, double value) const {
  const auto n = values.size();
  const auto top = std::max<std::size_t>(1, static_cast<std::size_t>(std::floor(static_cast<double>(n) / options_.reduction_factor)));
  const auto better = static_cast<std::size_t>(std::count_if(values.begin(), values.end(), [&](double v) { return v < value; }));
  return better < top;
}

AshaDecision Asha::report(std::int64_t trial, double step, double value) {
  if (std::isnan(value)) return AshaDecision::Stop;
  const int bracket = bracket_of(trial);
  const auto rung_resources = rungs(bracket);
  int& next = next_rung_[trial];
  bool keep = true;
  while (next < static_cast<int>(rung_resources.size()) && step >= rung_resources[next] * (1 - 1e-12)) {
    auto& values = recorded_[bracket][next];
    values.push_back(value);
    ++next;
    if (!promotable(values, value)) {
      keep = false;  // a stopped trial enters no later rung
      break;
    }
  }
  if (!keep || step >= options_.max_resource * (1 - 1e-12)) return AshaDecision::Stop;
  return AshaDecision::Continue;
}

std::vector<double> Asha::rung_values(int bracket, int rung) const {
  if (bracket < 0 || bracket >= static_cast<int>(recorded_.size()) || rung < 0 ||
      rung >= static_cast<int>(recorded_[bracket].size()))
    throw std::out_of_range("asha: no rung " + std::to_string(rung) + " in bracket " + std::to_string(bracket));
  return recorded_[bracket][rung];
}

}  // namespace lorafarm::search
