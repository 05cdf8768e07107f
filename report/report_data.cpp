// Reads what a report draws from the store, once: trials with their results,
// per-method rows, the learning curves of each method's best trial and any
// rank-ladder metrics (`val_loss@rN`).
#include <algorithm>
#include <charconv>
#include <set>
#include <stdexcept>

#include "report/report.h"

namespace lorafarm::report {

using nlohmann::json;

ReportFormat report_format_from(std::string_view name) {
  if (name == "html") return ReportFormat::Html;
  if (name == "md" || name == "markdown") return ReportFormat::Markdown;
  if (name == "csv") return ReportFormat::Csv;
  if (name == "json") return ReportFormat::Json;
  throw std::invalid_argument("unknown report format '" + std::string(name) + "'; allowed: html, md, csv, json");
}

std::string_view to_string(ReportFormat format) {
  switch (format) {
    case ReportFormat::Html: return "html";
    case ReportFormat::Markdown: return "md";
    case ReportFormat::Csv: return "csv";
    case ReportFormat::Json: return "json";
  }
  return "html";
}

namespace {

// "val_loss@r16" -> 16; anything else -> nullopt.
std::optional<int> ladder_rank(std::string_view name) {
  constexpr std::string_view prefix = "val_loss@r";
  if (name.substr(0, prefix.size()) != prefix) return std::nullopt;
  const auto digits = name.substr(prefix.size());
  int rank = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), rank);
  if (ec != std::errc() || end != digits.data() + digits.size() || rank <= 0) return std::nullopt;
  return rank;
}

// Every trial with its counted result, by number; the names of parameters and
// numeric result metrics; rank ladders found in results.
void read_trials(schema::Store& store, const schema::ExperimentRecord& experiment, ReportData& data) {
  std::set<std::string> params, metrics;
  for (auto& t : store.trials(experiment.id)) {
    ReportTrial row;
    row.group = group_of(t, data.summary.group_by);
    for (const auto& [k, v] : t.params.items()) params.insert(k);
    if (t.status == schema::TrialStatus::Completed || t.status == schema::TrialStatus::Infeasible) row.result = store.result(t.id);
    if (row.result) {
      for (const auto& [k, v] : row.result->metrics.items()) {
        if (!v.is_number()) continue;
        metrics.insert(k);
        if (const auto rank = ladder_rank(k)) data.rank_ladders[t.number][*rank] = v.get<double>();
      }
    }
    row.trial = std::move(t);
    data.trials.push_back(std::move(row));
  }
  std::sort(data.trials.begin(), data.trials.end(), [](const auto& a, const auto& b) { return a.trial.number < b.trial.number; });
  data.param_names.assign(params.begin(), params.end());
  data.metric_names.assign(metrics.begin(), metrics.end());
}

MethodRow method_row(const GroupRow& g, const std::map<std::int64_t, std::size_t>& index_of) {
  MethodRow m;
  m.method = g.group;
  m.trials = g.trials;
  auto count = [&](const char* status) {
    const auto it = g.counts.find(status);
    return it == g.counts.end() ? std::int64_t{0} : it->second;
  };
  m.completed = count("COMPLETED");
  m.failed = count("FAILED") + count("INFEASIBLE") + count("LOST");
  m.pruned = count("PRUNED");
  m.run = g.trials - count("QUEUED");
  if (g.best_trial) {
    if (const auto it = index_of.find(*g.best_trial); it != index_of.end()) m.best = it->second;
  }
  return m;
}

// The best trial's numbers and the learning curve of the attempt that produced its result.
void fill_best(schema::Store& store, MethodRow& m, ReportData& data) {
  const auto& b = data.trials[*m.best];
  m.val_ppl = b.metric("val_ppl");
  m.test_ppl = b.metric("test_ppl");
  m.peak_rss_mb = b.metric("peak_rss_mb");
  m.trainable_params = b.metric("trainable_params");
  m.train_seconds = b.metric("train_seconds");
  if (!m.train_seconds) m.train_seconds = b.metric("wall_seconds");
  m.tokens_per_second = b.metric("tokens_per_second");
  const int attempt = b.result ? b.result->attempt : b.trial.attempt;
  auto& curve = data.curves[b.trial.number];
  for (auto& r : store.metrics(b.trial.id))
    if (r.attempt == attempt) curve.push_back(std::move(r));
}

// Rank ladders reported as progress metrics (one query for the whole
// experiment); a final result's ladder wins over progress rows.
void read_progress_ladders(schema::Store& store, const schema::ExperimentRecord& experiment, ReportData& data,
                           const std::map<std::int64_t, std::size_t>& index_of) {
  auto s = store.database().prepare(
      "SELECT t.number, m.name, m.value, t.attempt, m.attempt FROM metrics m JOIN trials t ON t.id = m.trial_id "
      "WHERE t.experiment_id = ?1 AND t.status = 'COMPLETED' AND m.name LIKE 'val_loss@r%' ORDER BY m.step");
  s.bind(1, experiment.id);
  while (s.step()) {
    if (s.is_null(2) || s.int64(3) != s.int64(4)) continue;
    const auto rank = ladder_rank(s.text(1));
    const auto number = s.int64(0);
    if (!rank) continue;
    const auto at = index_of.find(number);
    if (at == index_of.end()) continue;
    const auto& trial = data.trials[at->second];
    if (trial.result && trial.result->metrics.contains(s.text(1))) continue;
    data.rank_ladders[number][*rank] = s.real(2);
  }
}

}  // namespace

ReportData collect_report(schema::Store& store, const schema::ExperimentRecord& experiment) {
  ReportData data;
  data.summary = summarize(store, experiment);
  read_trials(store, experiment, data);
  std::map<std::int64_t, std::size_t> index_of;
  for (std::size_t i = 0; i < data.trials.size(); ++i) index_of[data.trials[i].trial.number] = i;
  for (const auto& g : data.summary.groups) {
    MethodRow m = method_row(g, index_of);
    if (m.best) fill_best(store, m, data);
    data.methods.push_back(std::move(m));
  }
  read_progress_ladders(store, experiment, data, index_of);
  return data;
}

std::string render_report(schema::Store& store, const schema::ExperimentRecord& experiment, ReportFormat format,
                          const ReportContext& context) {
  return render_report(collect_report(store, experiment), format, context);
}

}  // namespace lorafarm::report
