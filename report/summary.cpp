// Experiment summaries computed from the store alone (read-only is enough).
#include "report/summary.h"

#include <Eigen/Core>

#include <algorithm>
#include <filesystem>

#include "report/recorded_spec.h"
#include "schema/artifact_store.h"
#include "search/pareto.h"

namespace lorafarm::report {

using nlohmann::json;

namespace {
bool better(double a, double b, bool maximize) { return maximize ? a > b : a < b; }


// The completed trials whose objective vectors no other completed trial
// dominates, by the first objective; values through ResultRecord::metric, the
// one lookup the coordinator judged them by.
std::vector<ParetoPoint> pareto_front(schema::Store& store, const schema::ExperimentRecord& experiment,
                                      const std::vector<schema::Objective>& objectives) {
  std::vector<ParetoPoint> points;
  for (const auto& t : store.trials(experiment.id)) {
    if (t.status != schema::TrialStatus::Completed) continue;
    const auto result = store.result(t.id);
    if (!result) continue;
    ParetoPoint p{t.number, {}, t.params};
    for (const auto& objective : objectives) {
      const auto value = result->metric(objective.metric);
      if (!value) break;
      p.values.push_back(*value);
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

// The objective(s) and grouping from the stored spec, parsed once; a spec
// that no longer parses leaves the defaults and says why.
void read_spec(schema::Store& store, ExperimentSummary& s) {
  const auto spec = try_recorded_spec(store, s.experiment, s.spec_error);
  if (!spec) return;
  s.metric = spec->objective.metric;
  s.maximize = spec->objective.maximize;
  if (!spec->more_objectives.empty()) {
    s.objectives.push_back(spec->objective);
    s.objectives.insert(s.objectives.end(), spec->more_objectives.begin(), spec->more_objectives.end());
  }
  if (spec->space.index_of("method")) s.group_by = "method";
}

// The local folder of the adapter a trial's attempt left (its home copy in
// the artifact store, else the worker's folder), or the worker's folder as
// recorded when neither is on this machine.
std::string adapter_folder(schema::Store& store, const std::string& experiment, const schema::TrialRecord& trial) {
  const auto adapter = schema::attempt_adapter(store, experiment, trial.id, trial.number, trial.attempt);
  if (!adapter) return "";
  return (adapter->folder.empty() ? adapter->recorded_folder : adapter->folder).string();
}

// Counts per status and the best completed trial, overall and per group.
void count_trials(schema::Store& store, ExperimentSummary& s) {
  std::map<std::string, GroupRow> groups;
  std::map<std::string, std::int64_t> best_trial_ids;
  for (const auto& t : store.trials(s.experiment.id)) {
    ++s.trials;
    const std::string status(schema::to_string(t.status));
    ++s.counts[status];
    const std::string group = group_of(t, s.group_by);
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
  for (auto& [name, row] : groups) {
    if (const auto it = best_trial_ids.find(name); it != best_trial_ids.end()) row.best_result = store.result(it->second);
    s.groups.push_back(std::move(row));
  }
  if (s.best) s.best_adapter = adapter_folder(store, s.experiment.name, *s.best);
}

}  // namespace

std::string group_of(const schema::TrialRecord& t, const std::string& group_by) {
  if (group_by.empty() || !t.params.contains(group_by)) return "all";
  const auto& g = t.params[group_by];
  return g.is_string() ? g.get<std::string>() : g.dump();
}

ExperimentSummary summarize(schema::Store& store, const schema::ExperimentRecord& experiment) {
  ExperimentSummary s;
  s.experiment = experiment;
  read_spec(store, s);
  count_trials(store, s);
  if (s.objectives.size() > 1) s.pareto_front = pareto_front(store, experiment, s.objectives);
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
  if (s.best && !s.best_adapter.empty()) out["best"]["adapter"] = s.best_adapter;
  json groups = json::array();
  for (const auto& g : s.groups) {
    json row{{"group", g.group}, {"trials", g.trials}, {"counts", g.counts}};
    if (g.best) row["best"] = {{"trial", *g.best_trial}, {"objective", *g.best}, {"params", g.best_params}};
    if (g.best_result) {
      row["best"]["metrics"] = g.best_result->metrics;
      // The table's columns, through the one metric lookup (ResultRecord::metric).
      for (const char* column : {"val_ppl", "test_ppl", "peak_rss_mb", "wall_seconds", "trainable_params"})
        if (const auto v = g.best_result->metric(column)) row["best"][column] = *v;
    }
    groups.push_back(row);
  }
  out["groups"] = groups;
  add_pareto_json(s, out);
  if (!s.group_by.empty()) out["group_by"] = s.group_by;
  if (!s.spec_error.empty()) out["spec_error"] = s.spec_error;
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

}  // namespace lorafarm::report
