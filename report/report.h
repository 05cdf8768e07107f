// The method-comparison report of one experiment, drawn from the store alone:
// a table per method (LoRA / QLoRA / DoRA / full ...) with the base model as
// the reference row, every trial, and the plots. Formats: one self-contained
// HTML page with inline SVG, a Markdown table for a PR, CSV and JSON of every
// trial. Knows nothing of the engine: numbers that need the model (the base
// model's perplexity, its parameter count) come in through ReportContext,
// usually as `lorafarm sweep` stored them (schema::Store::base_scores).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "report/summary.h"
#include "schema/store.h"

namespace lorafarm::report {

enum class ReportFormat { Html, Markdown, Csv, Json };

// "html", "md" (or "markdown"), "csv", "json"; throws std::invalid_argument naming the value.
ReportFormat report_format_from(std::string_view name);
std::string_view to_string(ReportFormat format);

struct ReportContext {
  std::optional<schema::BaseScoresRecord> base;  // the reference row; absent = not shown
  std::optional<std::int64_t> model_parameters;  // total parameters of the base model (for "% of the model")
  std::string note;                              // one line shown under the title (e.g. why the base row is missing)
};

// The context of a report drawn from the store alone (the dashboard's): the
// base row and model size `lorafarm sweep` stored, or a note saying why there
// is none (report/base_row.cpp).
ReportContext stored_report_context(schema::Store& store, const schema::ExperimentRecord& experiment);
// {"val_loss", "val_ppl", "test_loss", "test_ppl", "model_parameters", "settings"}
// (the report's JSON and the dashboard API share it).
nlohmann::json base_row_json(const schema::BaseScoresRecord& base);

// One trial with its counted result (if any).
struct ReportTrial {
  schema::TrialRecord trial;
  std::optional<schema::ResultRecord> result;
  // A number of the counted result, by schema::ResultRecord::metric (the one lookup).
  std::optional<double> metric(const std::string& name) const { return result ? result->metric(name) : std::nullopt; }
  std::string group;  // the method (or "all")
};

// One row of the comparison table (per method).
struct MethodRow {
  std::string method;
  std::int64_t trials = 0, run = 0, completed = 0, failed = 0, pruned = 0;  // failed includes INFEASIBLE and LOST
  std::optional<std::size_t> best;  // index into ReportData::trials of the best completed trial by the objective
  std::optional<double> val_ppl, test_ppl, peak_rss_mb, trainable_params, train_seconds, tokens_per_second;
};

// Everything the renderers draw, read once from the store.
struct ReportData {
  ExperimentSummary summary;
  std::vector<ReportTrial> trials;         // by trial number
  std::vector<MethodRow> methods;          // in the order of summary.groups
  std::vector<std::string> param_names;    // union of trial parameter names, sorted
  std::vector<std::string> metric_names;   // union of result metric names, sorted
  // Learning curves of each method's best trial: trial number -> its metric rows.
  std::map<std::int64_t, std::vector<schema::MetricRecord>> curves;
  // Rank-ladder metrics (`val_loss@rN`) per trial number: rank -> loss (last step seen).
  std::map<std::int64_t, std::map<int, double>> rank_ladders;
};

ReportData collect_report(schema::Store& store, const schema::ExperimentRecord& experiment);

// One plot of the HTML report, also usable alone (the dashboard shows them).
struct ReportPlot {
  std::string id;       // stable, e.g. "learning-curves"
  std::string title;
  std::string caption;  // what is drawn and how (e.g. the importance measure)
  std::string svg;      // an <svg> element; data marks carry class="mark"
  bool empty = false;   // no data to draw (the svg then says why)
};
std::vector<ReportPlot> report_plots(const ReportData& data);

// Parameter importance, fANOVA-style first-order effects from binned
// marginals: completed trials are binned by the parameter's value (each
// category, up to 8 quantile bins for numbers, one bin for trials without the
// parameter); variance_fraction = Σ_b n_b (ȳ_b − ȳ)² / Σ_i (y_i − ȳ)² of the
// objective y, and share = variance_fraction normalised to sum to 1 over the
// parameters. Sorted by share, largest first; empty when fewer than two
// completed trials or the objective does not vary.
struct ParameterImportance {
  std::string name;
  double share = 0;
  double variance_fraction = 0;
};
std::vector<ParameterImportance> parameter_importance(const ReportData& data);

// The CSS the HTML report uses (light and dark, print); for embedding the plots elsewhere.
std::string_view report_css();

std::string render_report(const ReportData& data, ReportFormat format, const ReportContext& context);
std::string render_report(schema::Store& store, const schema::ExperimentRecord& experiment, ReportFormat format,
                          const ReportContext& context);

}  // namespace lorafarm::report
