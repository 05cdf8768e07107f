#include "coordinator/rank_selection.h"

#include <cmath>
#include <map>
#include <string>

namespace lorafarm::coordinator {

std::optional<RankChoice> choose_rank(const nlohmann::json& metrics, std::string_view metric, double epsilon, bool maximize) {
  const std::string prefix = std::string(metric) + "@r";
  std::map<int, double> curve;  // rank -> value, ascending rank
  for (const auto& [name, value] : metrics.items()) {
    if (name.rfind(prefix, 0) != 0 || !value.is_number()) continue;
    const std::string digits = name.substr(prefix.size());
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    const double v = value.get<double>();
    if (std::isfinite(v)) curve[std::stoi(digits)] = maximize ? -v : v;
  }
  if (curve.empty()) return std::nullopt;
  double best = curve.begin()->second;
  for (const auto& [rank, v] : curve) best = std::min(best, v);
  for (const auto& [rank, v] : curve)
    if (v <= best + epsilon) return RankChoice{rank, maximize ? -v : v};
  return std::nullopt;  // unreachable: the best itself qualifies
}

}  // namespace lorafarm::coordinator
