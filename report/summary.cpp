// Experiment summaries computed from the store alone (read-only is enough).
#include "report/summary.h"

#include <Eigen/Core>

#include <algorithm>
#include <iomanip>
#include <sstream>

#include "search/pareto.h"

namespace lorafarm::coordinator {

using nlohmann::json;

namespace {
bool better(double a, double b, bool maximize) { return maximize ? a > b : a < b; }

std::string format_number(std::optional<double> v) {
  if (!v) return "-";
  std::ostringstream s;
  s << std::setprecision(6) << *v;
  return s.str();
}
// The completed trials whose objective vectors no other completed trial
// dominates, by the first objective. The coordinator writes every objective
// into the result's metrics (peak_rss_mb and wall_seconds included).
std::vector<ParetoPoint> pareto_front(schema::Store& store, const schema::ExperimentRecord& experiment,
                                      const std::vector<schema::Objective>& objectives) {
  std::vector<ParetoPoint> points;
  for (const auto& t : store.trials(experiment.id)) {
    if (t.status != schema::TrialStatus::Completed) continue;
    const auto result = store.result(t.id);
    if (!result) continue;
    ParetoPoint p{t.number, {}, t.params};
    for (const auto& [metric, maximize] : objectives) {
      if (!result->metrics.contains(metric) || !result->metrics[metric].is_number()) break;
      p.values.push_back(result->metrics[metric].get<double>());
    }
    if (p.values.size() == objectives.size()) points.push_back(std::move(p));
  }
  Eigen::MatrixXd minimised(static_cast<Eigen::Index>(points.size()), static_cast<Eigen::Index>(objectives.size()));
  for (std::size_t i = 0; i < points.size(); ++i) {
    for (std::size_t k = 0; k < objectives.size(); ++k) {
      const double v = points[i].values[k];
      minimised(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(k)) = objectives[k].minimised(v);
    }
  }
  std::vector<ParetoPoint> front;
  for (int i : search::pareto_front(minimised)) front.push_back(points[static_cast<std::size_t>(i)]);
  std::sort(front.begin(), front.end(), [&](const ParetoPoint& a, const ParetoPoint& b) {
    return better(a.values[0], b.values[0], objectives[0].maximize) || (a.values[0] == b.values[0] && a.trial < b.trial);
  });
  return front;
}
}  // namespace

ExperimentSummary summarize(schema::Store& store, const schema::ExperimentRecord& experiment) {
  ExperimentSummary s;
  s.experiment = experiment;
  const json spec = json::parse(experiment.spec_json, nullptr, false, true);
  if (spec.is_object() && spec.contains("objective") && spec["objective"].is_object()) {
    s.metric = spec["objective"].value("metric", s.metric);
    s.maximize = spec["objective"].value("direction", "minimize") == "maximize";
  }
  if (spec.is_object() && spec.contains("objectives") && spec["objectives"].is_array()) {
    for (const auto& o : spec["objectives"]) {
      if (!o.is_object()) continue;
      s.objectives.push_back({o.value("metric", std::string("val_loss")), o.value("direction", "minimize") == "maximize"});
    }
    if (!s.objectives.empty()) {
      s.metric = s.objectives.front().metric;
      s.maximize = s.objectives.front().maximize;
    }
  }
  if (spec.is_object() && spec.contains("search_space") && spec["search_space"].contains("method")) s.group_by = "method";

  std::map<std::string, GroupRow> groups;
  std::map<std::string, std::int64_t> best_trial_ids;
  for (const auto& t : store.trials(experiment.id)) {
    ++s.trials;
    const std::string status(schema::to_string(t.status));
    ++s.counts[status];
    std::string group = "all";
    if (!s.group_by.empty() && t.params.contains(s.group_by)) {
      const auto& g = t.params[s.group_by];
      group = g.is_string() ? g.get<std::string>() : g.dump();
    }
    auto& row = groups[group];
    row.group = group;
    ++row.trials;
    ++row.counts[status];
    if (t.status != schema::TrialStatus::Completed || !t.objective) continue;
    if (!row.best || better(*t.objective, *row.best, s.maximize)) {
      row.best = t.objective;
      row.best_trial = t.number;
      row.best_params = t.params;
      best_trial_ids[group] = t.id;
    }
    if (!s.best || better(*t.objective, *s.best->objective, s.maximize)) s.best = t;
  }
  if (s.objectives.size() > 1) s.pareto_front = pareto_front(store, experiment, s.objectives);
  for (auto& [name, row] : groups) {
    if (const auto it = best_trial_ids.find(name); it != best_trial_ids.end()) row.best_result = store.result(it->second);
    s.groups.push_back(std::move(row));
  }
  for (const auto& e : store.events(experiment.id)) {
    if (e.kind.find("STALE_") == 0 || e.kind.find("DUPLICATE_") == 0 || e.kind.find("NOT_HELD_") == 0) ++s.not_counted_results;
  }
  return s;
}

json to_json(const ExperimentSummary& s) {
  json out{{"experiment", s.experiment.name},
           {"status", s.experiment.status},
           {"objective", {{"metric", s.metric}, {"direction", s.maximize ? "maximize" : "minimize"}}},
           {"budget", s.experiment.max_trials},
           {"trials", s.trials},
           {"counts", s.counts},
           {"not_counted_results", s.not_counted_results},
           {"created_at", s.experiment.created_at},
           {"lorafarm_version", s.experiment.lorafarm_version},
           {"git_commit", s.experiment.git_commit},
           {"host", s.experiment.host}};
  if (s.best) out["best"] = {{"trial", s.best->number}, {"objective", *s.best->objective}, {"params", s.best->params}};
  json groups = json::array();
  for (const auto& g : s.groups) {
    json row{{"group", g.group}, {"trials", g.trials}, {"counts", g.counts}};
    if (g.best) row["best"] = {{"trial", *g.best_trial}, {"objective", *g.best}, {"params", g.best_params}};
    if (g.best_result) {
      row["best"]["metrics"] = g.best_result->metrics;
      if (g.best_result->peak_rss_mb) row["best"]["peak_rss_mb"] = *g.best_result->peak_rss_mb;
      if (g.best_result->wall_seconds) row["best"]["wall_seconds"] = *g.best_result->wall_seconds;
    }
    groups.push_back(row);
  }
  out["groups"] = groups;
  add_pareto_json(s, out);
  if (!s.group_by.empty()) out["group_by"] = s.group_by;
  return out;
}

void add_pareto_json(const ExperimentSummary& s, json& out) {
  if (s.objectives.empty()) return;
  json objectives = json::array();
  for (const auto& o : s.objectives) objectives.push_back({{"metric", o.metric}, {"direction", o.maximize ? "maximize" : "minimize"}});
  out["objectives"] = std::move(objectives);
  json front = json::array();
  for (const auto& p : s.pareto_front) front.push_back({{"trial", p.trial}, {"values", p.values}, {"params", p.params}});
  out["pareto_front"] = std::move(front);
}

std::string render_table(const ExperimentSummary& s) {
  std::ostringstream out;
  const std::string first = s.group_by.empty() ? "" : s.group_by;
  auto count = [](const std::map<std::string, std::int64_t>& c, const char* k) {
    const auto it = c.find(k);
    return it == c.end() ? std::int64_t{0} : it->second;
  };
  out << "experiment " << s.experiment.name << " (" << s.experiment.status << "): " << s.trials << " of " << s.experiment.max_trials
      << " trials, objective " << s.metric << " (" << (s.maximize ? "max" : "min") << ")\n";
  out << std::left << std::setw(12) << (first.empty() ? "group" : first) << std::right << std::setw(14) << ("best " + s.metric)
      << std::setw(8) << "trial" << std::setw(11) << "completed" << std::setw(8) << "failed" << std::setw(8) << "pruned" << std::setw(8)
      << "infeas" << std::setw(6) << "lost" << std::setw(9) << "running" << std::setw(10) << "val ppl" << std::setw(10) << "test ppl"
      << std::setw(9) << "peak MB" << std::setw(11) << "trainable" << std::setw(8) << "time s" << "\n";
  for (const auto& g : s.groups) {
    out << std::left << std::setw(12) << g.group << std::right << std::setw(14) << format_number(g.best) << std::setw(8)
        << (g.best_trial ? std::to_string(*g.best_trial) : "-") << std::setw(11) << count(g.counts, "COMPLETED") << std::setw(8)
        << count(g.counts, "FAILED") << std::setw(8) << count(g.counts, "PRUNED") << std::setw(8) << count(g.counts, "INFEASIBLE")
        << std::setw(6) << count(g.counts, "LOST") << std::setw(9) << count(g.counts, "RUNNING") + count(g.counts, "QUEUED");
    // The best trial's own numbers, where its trainer reported them.
    const json metrics = g.best_result ? g.best_result->metrics : json::object();
    auto metric = [&](const char* name) -> std::optional<double> {
      if (metrics.contains(name) && metrics[name].is_number()) return metrics[name].get<double>();
      return std::nullopt;
    };
    const auto trainable = metric("trainable_params");
    out << std::setw(10) << format_number(metric("val_ppl")) << std::setw(10) << format_number(metric("test_ppl"))
        << std::setw(9) << format_number(g.best_result ? g.best_result->peak_rss_mb : std::nullopt) << std::setw(11)
        << (trainable ? std::to_string(static_cast<std::int64_t>(*trainable)) : "-") << std::setw(8)
        << format_number(g.best_result ? g.best_result->wall_seconds : std::nullopt) << "\n";
  }
  if (s.best) out << "best: trial " << s.best->number << " " << s.metric << " = " << format_number(s.best->objective) << " " << s.best->params.dump() << "\n";
  if (s.objectives.size() > 1) {
    out << "Pareto front (" << s.pareto_front.size() << " trial" << (s.pareto_front.size() == 1 ? "" : "s")
        << " no other completed trial beats in every objective):\n";
    std::vector<int> widths;
    out << std::setw(8) << "trial";
    for (const auto& [metric, maximize] : s.objectives) {
      const std::string title = metric + (maximize ? " (max)" : " (min)");
      widths.push_back(static_cast<int>(std::max<std::size_t>(14, title.size() + 2)));
      out << std::setw(widths.back()) << title;
    }
    out << "  params\n";
    for (const auto& p : s.pareto_front) {
      out << std::setw(8) << p.trial;
      for (std::size_t k = 0; k < p.values.size(); ++k) out << std::setw(widths[k]) << format_number(p.values[k]);
      out << "  " << p.params.dump() << "\n";
    }
  }
  if (s.not_counted_results > 0) out << s.not_counted_results << " late or duplicate result(s) were recorded but not counted\n";
  return out.str();
}

}  // namespace lorafarm::coordinator
