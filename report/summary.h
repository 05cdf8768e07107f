// What a finished (or running) experiment looks like: counts per status, the
// best trial, and per-method rows when the space has a `method` parameter.
// Shared by `lorafarm sweep` (its closing table), `lorafarm status`, the report
// and the dashboard API.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "schema/store.h"
#include "schema/sweep_spec.h"

namespace lorafarm::report {

struct GroupRow {
  std::string group;  // a method name, or "all"
  std::int64_t trials = 0;
  std::map<std::string, std::int64_t> counts;  // status name -> trials
  std::optional<double> best;
  std::optional<std::int64_t> best_trial;
  nlohmann::json best_params;
  std::optional<schema::ResultRecord> best_result;  // perplexities, peak RSS, time of the best trial
};

// One trial of a multi-objective experiment's Pareto front.
struct ParetoPoint {
  std::int64_t trial = 0;
  std::vector<double> values;  // one per objective, as reported
  nlohmann::json params;
};

struct ExperimentSummary {
  schema::ExperimentRecord experiment;
  std::string metric = "val_loss";
  bool maximize = false;
  std::string group_by;  // "method" or "" (one row)
  std::int64_t trials = 0;
  std::map<std::string, std::int64_t> counts;
  std::vector<GroupRow> groups;
  std::optional<schema::TrialRecord> best;
  // The folder holding the best trial's adapter_config.json on this machine
  // (schema::attempt_adapter: its home copy in the artifact store, else the
  // worker's folder), or as recorded when it is not here; empty when it left none.
  std::string best_adapter;
  // Multi-objective spec ("objectives"): every objective, and the completed
  // trials no other completed trial dominates, by the first objective.
  std::vector<schema::Objective> objectives;
  std::vector<ParetoPoint> pareto_front;
  std::int64_t not_counted_results = 0;  // stale / duplicate / not-held results in events
  // Set when the stored spec no longer parses: the summary then falls back to
  // the default objective (val_loss, minimised) and one group, and says so.
  std::string spec_error;
};

ExperimentSummary summarize(schema::Store& store, const schema::ExperimentRecord& experiment);
// The group a trial counts in: its `group_by` parameter's value, or "all".
std::string group_of(const schema::TrialRecord& trial, const std::string& group_by);
nlohmann::json to_json(const ExperimentSummary& summary);
// Adds "objectives" and "pareto_front" to `out` for a multi-objective spec
// (shared by the summary's and the report's JSON).
void add_pareto_json(const ExperimentSummary& summary, nlohmann::json& out);
// A fixed-width text table, one row per group (report/summary_table.cpp).
std::string render_table(const ExperimentSummary& summary);

}  // namespace lorafarm::report
