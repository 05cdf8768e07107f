// Quantiles and the Vargha–Delaney A12 of benchmark results.
#include "search/benchmark_stats.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace lorafarm::search {

double quantile(std::vector<double> values, double q) {
  if (values.empty()) throw std::invalid_argument("quantile: no values");
  std::sort(values.begin(), values.end());
  const double pos = std::clamp(q, 0.0, 1.0) * static_cast<double>(values.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const auto hi = std::min(lo + 1, values.size() - 1);
  return values[lo] + (pos - static_cast<double>(lo)) * (values[hi] - values[lo]);
}

double vargha_delaney_a12(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.empty() || b.empty()) throw std::invalid_argument("vargha_delaney_a12: both samples need values");
  double wins = 0.0;
  for (const double x : a) {
    for (const double y : b) wins += x < y ? 1.0 : (x == y ? 0.5 : 0.0);
  }
  return wins / (static_cast<double>(a.size()) * static_cast<double>(b.size()));
}

}  // namespace lorafarm::search
