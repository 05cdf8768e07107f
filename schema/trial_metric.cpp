// A trial metric's one lookup and its precedence (schema/trial_metric.h).
#include "schema/trial_metric.h"

namespace lorafarm::schema {

bool is_worker_measured(std::string_view name) { return name == "peak_rss_mb" || name == "wall_seconds"; }

std::string stored_metric_name(std::string_view printed) {
  return is_worker_measured(printed) ? "reported_" + std::string(printed) : std::string(printed);
}

std::optional<double> reported_metric(std::string_view name, const nlohmann::json& reported) {
  if (!reported.is_object()) return std::nullopt;
  const auto it = reported.find(std::string(name));
  if (it == reported.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

std::optional<double> resolve_metric(std::string_view name, const nlohmann::json& reported, const WorkerMeasurements& measured) {
  if (name == "peak_rss_mb") return measured.peak_rss_mb;
  if (name == "wall_seconds") return measured.wall_seconds;
  return reported_metric(name, reported);
}

}  // namespace lorafarm::schema
