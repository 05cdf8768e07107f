// The report's four forms: a self-contained HTML page (comparison table +
// inline SVG plots), a Markdown table for a PR, and CSV / JSON of every trial.
#include "report/report.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ctime>

#include "report/memory_breakdown.h"
#include "report/preference_metrics.h"
#include "report/svg_plot.h"

namespace lorafarm::report {

using nlohmann::json;

namespace {

// Shortest text that reads back as the same double (CSV keeps DB values exactly).
std::string exact(double v) {
  if (!std::isfinite(v)) return std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf");
  char buffer[64];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, v);
  return ec == std::errc() ? std::string(buffer, end) : svg::format_number(v, 17);
}

// Table cells: 5 significant digits, "–" when unknown.
std::string cell(const std::optional<double>& v, int digits = 5) { return v ? svg::format_number(*v, digits) : "–"; }
std::string count_cell(const std::optional<double>& v) {
  return v ? std::to_string(static_cast<long long>(std::llround(*v))) : "–";
}

std::string param_value(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) return svg::format_number(v.get<double>(), 6);
  return v.dump();
}

// The best configuration without the grouping parameter (the row already says the method).
std::string configuration(const json& params, const std::string& group_by) {
  std::string out;
  for (const auto& [k, v] : params.items()) {
    if (k == group_by) continue;
    if (!out.empty()) out += ", ";
    out += k + "=" + param_value(v);
  }
  return out.empty() ? "(defaults)" : out;
}

std::optional<double> percent_of_model(const MethodRow& m, const ReportContext& c) {
  if (!m.trainable_params || !c.model_parameters || *c.model_parameters <= 0) return std::nullopt;
  return 100.0 * *m.trainable_params / static_cast<double>(*c.model_parameters);
}

std::string percent_cell(const std::optional<double>& p) { return p ? svg::format_number(*p, 3) + " %" : "–"; }

// One row of the comparison table as cells (Markdown and HTML share it).
struct TableRow {
  std::vector<std::string> cells;
  bool base = false;
};

const std::vector<std::string>& table_header() {
  static const std::vector<std::string> header = {"method",        "best trial",       "configuration", "val ppl",
                                                  "test ppl",      "peak RSS, wait4 (MB)", "trainable params", "% of model",
                                                  "train time (s)", "tokens/s",        "trials run",    "completed",
                                                  "failed",        "pruned"};
  return header;
}

std::vector<TableRow> comparison_rows(const ReportData& d, const ReportContext& c) {
  std::vector<TableRow> rows;
  if (c.base) {
    rows.push_back({{"base model (untrained)", "–", "–", svg::format_number(c.base->val_ppl, 5), cell(c.base->test_ppl), "–", "0",
                     c.model_parameters ? "0 %" : "–", "–", "–", "–", "–", "–", "–"},
                    true});
  }
  for (const auto& m : d.methods) {
    const ReportTrial* best = m.best ? &d.trials[*m.best] : nullptr;
    rows.push_back({{m.method, best ? std::to_string(best->trial.number) : "–",
                     best ? configuration(best->trial.params, d.summary.group_by) : "–", cell(m.val_ppl), cell(m.test_ppl),
                     cell(m.peak_rss_mb), count_cell(m.trainable_params), percent_cell(percent_of_model(m, c)), cell(m.train_seconds),
                     cell(m.tokens_per_second), std::to_string(m.run), std::to_string(m.completed), std::to_string(m.failed),
                     std::to_string(m.pruned)},
                    false});
  }
  return rows;
}

std::string headline(const ReportData& d, const ReportContext& c) {
  const auto& s = d.summary;
  std::string out = "Objective: " + s.metric + " (" + (s.maximize ? "maximize" : "minimize") + "). " + std::to_string(s.trials) +
                    " of " + std::to_string(s.experiment.max_trials) + " trials, experiment " + s.experiment.status + ".";
  if (c.model_parameters) out += " Model: " + std::to_string(*c.model_parameters) + " parameters.";
  if (s.best) out += " Best: trial " + std::to_string(s.best->number) + ", " + s.metric + " " + svg::format_number(*s.best->objective, 6) + ".";
  if (!s.spec_error.empty()) out += " Shown with the default objective, ungrouped: " + s.spec_error + ".";
  return out;
}

std::string markdown_escape(std::string_view text) {
  std::string out;
  for (const char ch : text) {
    if (ch == '|') out += "\\|";
    else if (ch == '\n') out += ' ';
    else out += ch;
  }
  return out;
}

std::string render_markdown(const ReportData& d, const ReportContext& c) {
  std::string out = "### Method comparison: " + markdown_escape(d.summary.experiment.name) + "\n\n" + headline(d, c) + "\n";
  if (!c.note.empty()) out += "\n" + markdown_escape(c.note) + "\n";
  out += "\n|";
  for (const auto& h : table_header()) out += " " + h + " |";
  out += "\n|";
  for (std::size_t i = 0; i < table_header().size(); ++i) out += i < 3 ? " --- |" : " ---: |";
  out += "\n";
  for (const auto& row : comparison_rows(d, c)) {
    out += "|";
    for (const auto& cell_text : row.cells) out += " " + markdown_escape(cell_text) + " |";
    out += "\n";
  }
  out += "\nPerplexities are exp(mean cross-entropy per token) of each method's best trial (by " + d.summary.metric +
         "); peak RSS is the trial process's maximum resident set size as the worker's wait4 measured it (the engine's own "
         "getrusage figure is the metric reported_peak_rss_mb). \"failed\" counts failed, infeasible and lost trials.\n";
  out += memory_breakdown_markdown(memory_breakdowns(d));
  out += preference_markdown(preference_rows(d));
  if (d.summary.objectives.size() > 1) {
    out += "\n#### Pareto front\n\nCompleted trials no other completed trial beats in every objective.\n\n| trial |";
    for (const auto& [metric, maximize] : d.summary.objectives) out += " " + markdown_escape(metric) + (maximize ? " (max)" : " (min)") + " |";
    out += " parameters |\n| ---: |";
    for (std::size_t i = 0; i < d.summary.objectives.size(); ++i) out += " ---: |";
    out += " --- |\n";
    for (const auto& p : d.summary.pareto_front) {
      out += "| " + std::to_string(p.trial) + " |";
      for (double v : p.values) out += " " + cell(v, 6) + " |";
      out += " " + markdown_escape(configuration(p.params, "")) + " |\n";
    }
  }
  return out;
}

std::string csv_field(std::string_view text) {
  if (text.find_first_of(",\"\n\r") == std::string_view::npos) return std::string(text);
  std::string out = "\"";
  for (const char ch : text) {
    if (ch == '"') out += '"';
    out += ch;
  }
  return out + "\"";
}

std::string csv_json(const json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return csv_field(v.get<std::string>());
  if (v.is_number_float()) return exact(v.get<double>());
  return csv_field(v.dump());
}

std::string optional_exact(const std::optional<double>& v) { return v ? exact(*v) : ""; }

std::string render_csv(const ReportData& d) {
  std::string out = "trial,status,group,attempt,worker,seed,objective,created_at,started_at,finished_at,peak_rss_mb,wall_seconds";
  for (const auto& p : d.param_names) out += "," + csv_field("param." + p);
  for (const auto& m : d.metric_names) out += "," + csv_field("result." + m);
  out += ",error\n";
  for (const auto& r : d.trials) {
    const auto& t = r.trial;
    out += std::to_string(t.number) + "," + std::string(schema::to_string(t.status)) + "," + csv_field(r.group) + "," +
           std::to_string(t.attempt) + "," + csv_field(t.worker) + "," + std::to_string(t.seed) + "," + optional_exact(t.objective) + "," +
           exact(t.created_at) + "," + optional_exact(t.started_at) + "," + optional_exact(t.finished_at) + "," +
           optional_exact(r.metric("peak_rss_mb")) + "," + optional_exact(r.metric("wall_seconds"));
    for (const auto& p : d.param_names) out += "," + (t.params.contains(p) ? csv_json(t.params[p]) : std::string());
    for (const auto& m : d.metric_names) {
      out += ",";
      if (r.result && r.result->metrics.contains(m)) out += csv_json(r.result->metrics[m]);
    }
    out += "," + csv_field(t.error) + "\n";
  }
  return out;
}

json optional_json(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

json methods_json(const ReportData& d, const ReportContext& c) {
  json methods = json::array();
  for (const auto& m : d.methods) {
    json row{{"method", m.method},         {"trials", m.trials},
             {"run", m.run},               {"completed", m.completed},
             {"failed", m.failed},         {"pruned", m.pruned},
             {"best_trial", nullptr},      {"val_ppl", optional_json(m.val_ppl)},
             {"test_ppl", optional_json(m.test_ppl)}, {"peak_rss_mb", optional_json(m.peak_rss_mb)},
             {"trainable_params", optional_json(m.trainable_params)}, {"trainable_percent", optional_json(percent_of_model(m, c))},
             {"train_seconds", optional_json(m.train_seconds)}, {"tokens_per_second", optional_json(m.tokens_per_second)}};
    if (m.best) {
      const auto& b = d.trials[*m.best].trial;
      row["best_trial"] = b.number;
      row["objective"] = optional_json(b.objective);
      row["params"] = b.params;
    }
    methods.push_back(std::move(row));
  }
  return methods;
}

json trials_json(const ReportData& d) {
  json trials = json::array();
  for (const auto& r : d.trials) {
    const auto& t = r.trial;
    json row{{"number", t.number},
             {"status", std::string(schema::to_string(t.status))},
             {"group", r.group},
             {"params", t.params},
             {"seed", t.seed},
             {"attempt", t.attempt},
             {"worker", t.worker},
             {"created_at", t.created_at},
             {"started_at", optional_json(t.started_at)},
             {"finished_at", optional_json(t.finished_at)},
             {"objective", optional_json(t.objective)},
             {"error", t.error},
             {"result", nullptr}};
    if (r.result) {
      row["result"] = {{"attempt", r.result->attempt},
                       {"metrics", r.result->metrics},
                       {"peak_rss_mb", optional_json(r.result->peak_rss_mb)},
                       {"wall_seconds", optional_json(r.result->wall_seconds)}};
    }
    trials.push_back(std::move(row));
  }
  return trials;
}

json render_json_value(const ReportData& d, const ReportContext& c) {
  const auto& s = d.summary;
  json out{{"experiment", s.experiment.name},
           {"status", s.experiment.status},
           {"objective", {{"metric", s.metric}, {"direction", s.maximize ? "maximize" : "minimize"}}},
           {"budget", s.experiment.max_trials},
           {"created_at", s.experiment.created_at},
           {"finished_at", optional_json(s.experiment.finished_at)},
           {"lorafarm_version", s.experiment.lorafarm_version},
           {"git_commit", s.experiment.git_commit},
           {"host", s.experiment.host},
           {"group_by", s.group_by},
           {"model_parameters", c.model_parameters ? json(*c.model_parameters) : json(nullptr)},
           {"base", nullptr}};
  if (!c.note.empty()) out["note"] = c.note;
  if (c.base) out["base"] = base_row_json(*c.base);
  out["methods"] = methods_json(d, c);
  out["memory_breakdown"] = memory_breakdown_json(memory_breakdowns(d));
  if (const auto rows = preference_rows(d); !rows.empty()) out["preference_metrics"] = preference_json(rows);
  add_pareto_json(s, out);
  out["trials"] = trials_json(d);
  return out;
}

std::string html_escape(std::string_view text) { return svg::escape(text); }

std::string render_html(const ReportData& d, const ReportContext& c) {
  const auto& e = d.summary.experiment;
  std::string out;
  out.reserve(1 << 20);
  out += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">";
  out += "<title>lorafarm report: " + html_escape(e.name) + "</title><style>";
  out += report_css();
  out += "</style></head><body>\n<h1>Method comparison: " + html_escape(e.name) + "</h1>\n<p class=\"meta\">" + html_escape(headline(d, c));
  out += " lorafarm " + html_escape(e.lorafarm_version) + (e.git_commit.empty() ? "" : " (" + html_escape(e.git_commit) + ")") + ", host " +
         html_escape(e.host) + ".</p>\n";
  if (!c.note.empty()) out += "<p class=\"note\">" + html_escape(c.note) + "</p>\n";

  out += "<div class=\"table-wrap\"><table class=\"comparison\"><thead><tr>";
  for (const auto& h : table_header()) out += "<th>" + html_escape(h) + "</th>";
  out += "</tr></thead><tbody>\n";
  for (const auto& row : comparison_rows(d, c)) {
    out += row.base ? "<tr class=\"base\">" : "<tr>";
    for (std::size_t i = 0; i < row.cells.size(); ++i) out += (i < 3 ? "<td>" : "<td class=\"num\">") + html_escape(row.cells[i]) + "</td>";
    out += "</tr>\n";
  }
  out += "</tbody></table></div>\n<p class=\"note\">Perplexities of each method's best trial (by " + html_escape(d.summary.metric) +
         "). Peak RSS: the trial process's maximum resident set size. \"failed\" counts failed, infeasible and lost trials.</p>\n";
  out += memory_breakdown_html(memory_breakdowns(d));
  out += preference_html(preference_rows(d));

  if (d.summary.objectives.size() > 1) {
    out += "<h2>Pareto front</h2>\n<table class=\"trials\"><thead><tr><th>trial</th>";
    for (const auto& [metric, maximize] : d.summary.objectives) out += "<th>" + html_escape(metric) + (maximize ? " (max)" : " (min)") + "</th>";
    out += "<th>parameters</th></tr></thead><tbody>\n";
    for (const auto& p : d.summary.pareto_front) {
      out += "<tr><td class=\"num\">" + std::to_string(p.trial) + "</td>";
      for (double v : p.values) out += "<td class=\"num\">" + cell(v, 6) + "</td>";
      out += "<td>" + html_escape(configuration(p.params, "")) + "</td></tr>\n";
    }
    out += "</tbody></table>\n<p class=\"note\">Completed trials no other completed trial beats in every objective.</p>\n";
  }

  out += "<h2>Plots</h2>\n";
  for (const auto& plot : report_plots(d)) {
    out += "<figure id=\"" + plot.id + "\" class=\"" + (plot.empty ? "plot-figure empty" : "plot-figure") + "\">" + plot.svg +
           "<figcaption><b>" + html_escape(plot.title) + ".</b> " + html_escape(plot.caption) + "</figcaption></figure>\n";
  }

  // The best trials, so the page answers "which exact configuration" without the CSV.
  std::vector<const ReportTrial*> done;
  for (const auto& t : d.trials)
    if (t.trial.status == schema::TrialStatus::Completed && t.trial.objective) done.push_back(&t);
  std::sort(done.begin(), done.end(), [&](const ReportTrial* a, const ReportTrial* b) {
    return d.summary.maximize ? *a->trial.objective > *b->trial.objective : *a->trial.objective < *b->trial.objective;
  });
  if (done.size() > 20) done.resize(20);
  out += "<h2>Best trials</h2>\n<table class=\"trials\"><thead><tr><th>trial</th><th>" + html_escape(d.summary.metric) +
         "</th><th>parameters</th><th>val ppl</th><th>test ppl</th><th>peak RSS, wait4 (MB)</th><th>time (s)</th></tr></thead><tbody>\n";
  for (const auto* t : done) {
    auto seconds = t->metric("train_seconds");
    if (!seconds) seconds = t->metric("wall_seconds");
    out += "<tr><td class=\"num\">" + std::to_string(t->trial.number) + "</td><td class=\"num\">" + cell(t->trial.objective, 6) +
           "</td><td>" + html_escape(configuration(t->trial.params, "")) + "</td><td class=\"num\">" + cell(t->metric("val_ppl")) +
           "</td><td class=\"num\">" + cell(t->metric("test_ppl")) + "</td><td class=\"num\">" +
           cell(t->metric("peak_rss_mb")) + "</td><td class=\"num\">" + cell(seconds) + "</td></tr>\n";
  }
  out += "</tbody></table>\n<p class=\"note\">Every trial is in <code>lorafarm report " + html_escape(e.name) +
         " --format csv</code> (or json).</p>\n</body></html>\n";
  return out;
}

}  // namespace

std::string_view report_css() {
  return R"CSS(
:root { color-scheme: light dark; --fg: #1b1b1b; --bg: #ffffff; --muted: #5c5c5c; --rule: #c8c8c8; --stripe: #f3f3f3; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e6e6; --bg: #141414; --muted: #a8a8a8; --rule: #4a4a4a; --stripe: #1e1e1e; } }
@media print { :root { --fg: #000000; --bg: #ffffff; --muted: #444444; --rule: #999999; --stripe: #f0f0f0; } figure { break-inside: avoid; } }
body { color: var(--fg); background: var(--bg); font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1100px; margin: 1.5em auto; padding: 0 1em; line-height: 1.4; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
.meta, .note, figcaption { color: var(--muted); font-size: 0.9em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.8em 0; }
th, td { border-bottom: 1px solid var(--rule); padding: 0.3em 0.55em; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.table-wrap { overflow-x: auto; }
tr.base td { font-style: italic; }
tbody tr:nth-child(even) { background: var(--stripe); }
figure { margin: 1.2em 0; }
svg.plot { color: var(--fg); max-width: 100%; height: auto; display: block; }
svg.plot .grid { stroke-opacity: 0.18; }
svg.plot .frame { fill: none; stroke: none; }
svg.plot .title { font-weight: bold; }
)CSS";
}

std::string render_report(const ReportData& data, ReportFormat format, const ReportContext& context) {
  switch (format) {
    case ReportFormat::Html: return render_html(data, context);
    case ReportFormat::Markdown: return render_markdown(data, context);
    case ReportFormat::Csv: return render_csv(data);
    case ReportFormat::Json: return render_json_value(data, context).dump(2) + "\n";
  }
  return {};
}

}  // namespace lorafarm::report
