// Read-only JSON views for the dashboard, computed from the store alone.
#include "dashboard/dashboard_api.h"

#include <map>

#include "report/recorded_spec.h"
#include "report/report.h"
#include "report/summary.h"

namespace lorafarm::dashboard {

using nlohmann::json;

namespace {

json optional_number(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

schema::ExperimentRecord find_or_404(schema::Store& store, std::string_view name) {
  auto e = store.find_experiment(name);
  if (!e) throw ApiError(404, "unknown experiment '" + std::string(name) + "'");
  return *e;
}

// The stored spec as written, for display (even one this lorafarm no longer parses).
json spec_document(const std::string& text) {
  json spec = json::parse(text, nullptr, false, true);
  return spec.is_discarded() ? json::object() : spec;
}

schema::TrialRecord find_trial_or_404(schema::Store& store, const schema::ExperimentRecord& e, std::int64_t number) {
  for (auto& t : store.trials(e.id))
    if (t.number == number) return t;
  throw ApiError(404, "experiment '" + e.name + "' has no trial " + std::to_string(number));
}

json experiment_entry(schema::Store& store, const schema::ExperimentRecord& e) {
  const auto s = report::summarize(store, e);
  json out{{"name", e.name},
           {"status", e.status},
           {"created_at", e.created_at},
           {"finished_at", optional_number(e.finished_at)},
           {"budget", e.max_trials},
           {"trials", s.trials},
           {"counts", s.counts},
           {"objective", {{"metric", s.metric}, {"direction", s.maximize ? "maximize" : "minimize"}}},
           {"best", nullptr}};
  if (s.best) out["best"] = {{"trial", s.best->number}, {"objective", *s.best->objective}, {"params", s.best->params}};
  return out;
}

// Latest step of each trial's current attempt, in one query.
std::map<std::int64_t, std::int64_t> latest_steps(schema::Store& store, std::int64_t experiment_id) {
  auto q = store.database().prepare(
      "SELECT m.trial_id, MAX(m.step) FROM metrics m JOIN trials t ON t.id = m.trial_id AND m.attempt = t.attempt "
      "WHERE t.experiment_id = ? GROUP BY m.trial_id");
  q.bind(1, experiment_id);
  std::map<std::int64_t, std::int64_t> out;
  while (q.step()) out[q.int64(0)] = q.int64(1);
  return out;
}

std::int64_t step_value(const json& v) {
  if (v.is_number_integer()) return v.get<std::int64_t>();
  if (v.is_number()) return static_cast<std::int64_t>(v.get<double>());
  return 0;
}

}  // namespace

std::int64_t planned_steps(const schema::SweepSpec* spec, const json& params) {
  for (const char* key : {"iters", "steps"}) {
    if (params.is_object() && params.contains(key)) return step_value(params[key]);
  }
  if (!spec) return 0;
  for (const char* key : {"iters", "steps"})
    if (spec->fixed.is_object() && spec->fixed.contains(key)) return step_value(spec->fixed[key]);
  return spec->scheduler.max_resource > 0 ? static_cast<std::int64_t>(spec->scheduler.max_resource) : 0;
}

json experiments_json(schema::Store& store) {
  json out = json::array();
  for (const auto& e : store.experiments()) out.push_back(experiment_entry(store, e));
  return out;
}

json experiment_json(schema::Store& store, std::string_view name) {
  const auto e = find_or_404(store, name);
  json out = experiment_entry(store, e);
  out["spec"] = spec_document(e.spec_json);
  out["seed"] = e.seed;
  out["host"] = e.host;
  out["lorafarm_version"] = e.lorafarm_version;
  out["git_commit"] = e.git_commit;
  return out;
}

json trials_json(schema::Store& store, std::string_view name) {
  const auto e = find_or_404(store, name);
  // Without a spec this lorafarm can read, planned steps come from the trial's own parameters only.
  std::string spec_error;
  const auto spec = report::try_recorded_spec(store, e, spec_error);
  const auto steps = latest_steps(store, e.id);
  json out = json::array();
  for (const auto& t : store.trials(e.id)) {
    const auto it = steps.find(t.id);
    const std::int64_t total = planned_steps(spec ? &*spec : nullptr, t.params);
    json row{{"number", t.number},
             {"status", std::string(schema::to_string(t.status))},
             {"params", t.params},
             {"attempt", t.attempt},
             {"worker", t.worker},
             {"created_at", t.created_at},
             {"started_at", optional_number(t.started_at)},
             {"finished_at", optional_number(t.finished_at)},
             {"objective", optional_number(t.objective)},
             {"error", t.error},
             {"step", it == steps.end() ? json(nullptr) : json(it->second)},
             {"total_steps", total > 0 ? json(total) : json(nullptr)},
             {"result", nullptr}};
    if (t.status == schema::TrialStatus::Completed && total > 0) row["step"] = std::max<std::int64_t>(total, it == steps.end() ? 0 : it->second);
    if (t.status == schema::TrialStatus::Completed || t.status == schema::TrialStatus::Infeasible) {
      if (const auto r = store.result(t.id))
        row["result"] = {{"metrics", r->metrics}, {"peak_rss_mb", optional_number(r->peak_rss_mb)},
                         {"wall_seconds", optional_number(r->wall_seconds)}};
    }
    out.push_back(std::move(row));
  }
  return out;
}

json trial_metrics_json(schema::Store& store, std::string_view name, std::int64_t number) {
  const auto e = find_or_404(store, name);
  const auto t = find_trial_or_404(store, e, number);
  json out = json::object();
  for (const auto& m : store.metrics(t.id)) {
    if (m.attempt != t.attempt || !m.value) continue;
    out[m.name].push_back(json::array({m.step, *m.value}));
  }
  return out;
}

json curves_json(schema::Store& store, std::string_view name, std::string_view metric) {
  const auto e = find_or_404(store, name);
  auto q = store.database().prepare(
      "SELECT t.number, m.step, m.value FROM metrics m JOIN trials t ON t.id = m.trial_id AND m.attempt = t.attempt "
      "WHERE t.experiment_id = ? AND m.name = ? AND m.value IS NOT NULL ORDER BY t.number, m.step");
  q.bind(1, e.id).bind(2, metric);
  json curves = json::array();
  std::int64_t current = -1;
  while (q.step()) {
    const std::int64_t number = q.int64(0);
    if (number != current) {
      curves.push_back({{"trial", number}, {"points", json::array()}});
      current = number;
    }
    curves.back()["points"].push_back(json::array({q.int64(1), q.real(2)}));
  }
  return {{"metric", metric}, {"curves", curves}};
}

json summary_json(schema::Store& store, std::string_view name) {
  const auto e = find_or_404(store, name);
  json out = report::to_json(report::summarize(store, e));
  const auto base = store.base_scores(e.id);
  out["base"] = base ? report::base_row_json(*base) : json(nullptr);
  return out;
}

json artifacts_json(schema::Store& store, std::string_view name, std::int64_t number) {
  const auto e = find_or_404(store, name);
  const auto t = find_trial_or_404(store, e, number);
  json out = json::array();
  for (const auto& a : store.artifacts(t.id))
    out.push_back({{"attempt", a.attempt}, {"worker", a.worker}, {"path", a.path}, {"sha256", a.sha256}, {"bytes", a.bytes}});
  return out;
}

}  // namespace lorafarm::dashboard
