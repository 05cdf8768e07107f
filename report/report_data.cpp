// Reads what a report draws from the store, once: trials with their results,
// per-method rows, the learning curves of each method's best trial and any
// rank-ladder metrics (`val_loss@rN`).
#include <algorithm>
#include <charconv>
#include <set>
#include <stdexcept>

#include "report/report.h"

namespace lorafarm::coordinator {

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

std::optional<double> ReportTrial::result_number(std::string_view name) const {
  if (!result) return std::nullopt;
  // The worker's measured peak RSS (wait4) and wall time are columns of their own;
  // the trainer's own report of them is the fallback.
  if (name == "peak_rss_mb" && result->peak_rss_mb) return result->peak_rss_mb;
  if (name == "wall_seconds" && result->wall_seconds) return result->wall_seconds;
  const auto it = result->metrics.find(std::string(name));
  if (it == result->metrics.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
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

std::string group_of(const schema::TrialRecord& t, const std::string& group_by) {
  if (group_by.empty() || !t.params.contains(group_by)) return "all";
  const auto& g = t.params[group_by];
  return g.is_string() ? g.get<std::string>() : g.dump();
}

}  // namespace

ReportData collect_report(schema::Store& store, const schema::ExperimentRecord& experiment) {
  ReportData data;
  data.summary = summarize(store, experiment);
  const auto& group_by = data.summary.group_by;

  std::set<std::string> params, metrics;
  for (auto& t : store.trials(experiment.id)) {
    ReportTrial row;
    row.group = group_of(t, group_by);
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

  std::map<std::int64_t, std::size_t> index_of;
  for (std::size_t i = 0; i < data.trials.size(); ++i) index_of[data.trials[i].trial.number] = i;

  for (const auto& g : data.summary.groups) {
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
    if (m.best) {
      const auto& b = data.trials[*m.best];
      m.val_ppl = b.result_number("val_ppl");
      m.test_ppl = b.result_number("test_ppl");
      m.peak_rss_mb = b.result_number("peak_rss_mb");
      m.trainable_params = b.result_number("trainable_params");
      m.train_seconds = b.result_number("train_seconds");
      if (!m.train_seconds) m.train_seconds = b.result_number("wall_seconds");
      m.tokens_per_second = b.result_number("tokens_per_second");
      // The learning curve of the attempt that produced the counted result.
      const int attempt = b.result ? b.result->attempt : b.trial.attempt;
      auto& curve = data.curves[b.trial.number];
      for (auto& r : store.metrics(b.trial.id))
        if (r.attempt == attempt) curve.push_back(std::move(r));
    }
    data.methods.push_back(std::move(m));
  }

  // Rank ladders reported as progress metrics (one query for the whole experiment).
  auto s = store.database().prepare(
      "SELECT t.number, m.name, m.value, t.attempt, m.attempt FROM metrics m JOIN trials t ON t.id = m.trial_id "
      "WHERE t.experiment_id = ?1 AND t.status = 'COMPLETED' AND m.name LIKE 'val_loss@r%' ORDER BY m.step");
  s.bind(1, experiment.id);
  while (s.step()) {
    if (s.is_null(2) || s.int64(3) != s.int64(4)) continue;
    const auto rank = ladder_rank(s.text(1));
    const auto number = s.int64(0);
    // A final result's ladder wins over progress rows.
    if (!rank) continue;
    const auto at = index_of.find(number);
    if (at == index_of.end()) continue;
    const auto& trial = data.trials[at->second];
    if (trial.result && trial.result->metrics.contains(s.text(1))) continue;
    data.rank_ladders[number][*rank] = s.real(2);
  }
  return data;
}

std::string render_report(schema::Store& store, const schema::ExperimentRecord& experiment, ReportFormat format,
                          const ReportContext& context) {
  return render_report(collect_report(store, experiment), format, context);
}

}  // namespace lorafarm::coordinator
