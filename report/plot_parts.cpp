// Helpers shared by the report's plots.
#include "report/plot_parts.h"

#include <algorithm>
#include <cmath>

namespace lorafarm::report::plot {

using svg::Point;

bool completed(const ReportTrial& t) { return t.trial.status == schema::TrialStatus::Completed && t.trial.objective.has_value(); }

std::optional<double> val_perplexity(const ReportTrial& t) {
  if (const auto p = t.metric("val_ppl")) return p;
  if (const auto l = t.metric("val_loss")) return std::exp(*l);
  return std::nullopt;
}

std::string objective_label(const ExperimentSummary& s) {
  const bool loss = s.metric.find("loss") != std::string::npos;
  return s.metric + (loss ? " (nats/token)" : "") + (s.maximize ? ", higher is better" : ", lower is better");
}

std::map<std::string, std::size_t> method_colours(const ReportData& d) {
  std::map<std::string, std::size_t> out;
  for (const auto& m : d.methods) out.emplace(m.method, out.size());
  return out;
}

std::string param_text(const nlohmann::json& params) {
  std::string out;
  for (const auto& [k, v] : params.items()) {
    if (!out.empty()) out += ", ";
    out += k + "=" + (v.is_string() ? v.get<std::string>() : v.is_number_float() ? svg::format_number(v.get<double>(), 4) : v.dump());
  }
  return out;
}

std::vector<double> xs_of(const std::vector<Point>& p) {
  std::vector<double> out;
  for (const auto& q : p) out.push_back(q.x);
  return out;
}
std::vector<double> ys_of(const std::vector<Point>& p) {
  std::vector<double> out;
  for (const auto& q : p) out.push_back(q.y);
  return out;
}

bool wide(std::span<const double> v) {
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  return lo != v.end() && *lo > 0 && *hi / *lo >= 20;
}


std::string category_of(const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

}  // namespace lorafarm::report::plot
