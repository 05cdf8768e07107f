// A command trial's metric collectors (the spec's `trial.metrics`): where its
// numbers come from (lorafarm's JSON lines, PCRE2 patterns over stdout or
// stderr, a JSON or JSONL file in the trial folder) and which of a metric's
// values is final. docs/sweep-spec.md, "Metric collectors", is the user guide.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "schema/regex_pattern.h"

namespace lorafarm::schema {

enum class CollectorSource { JsonLines, Stdout, Stderr, File };

struct CollectorSpec {
  CollectorSource source = CollectorSource::JsonLines;
  // Stdout / Stderr: the pattern, the group giving the step (0: none) and the
  // groups giving metrics (group number, metric name).
  std::optional<RegexPattern> pattern;
  int step_group = 0;
  std::vector<std::pair<int, std::string>> metric_groups;
  std::string metric;  // as written: the metric of an unnamed value group
  // File: a path or glob relative to the trial folder; one JSON document or
  // JSON lines; where the records are in the document (a key or a JSON
  // pointer; empty: the document itself); the key of the step; new names.
  std::string path;
  bool jsonl = false;
  std::string records;
  std::string step_key = "step";
  std::map<std::string, std::string> rename;

  // The metric name a file record's key is collected under.
  std::string renamed(const std::string& key) const;
};

// Which of a metric's values is its final value.
enum class FinalRule { Last, Min, Max };

struct MetricsSpec {
  std::vector<CollectorSpec> collectors;
  std::map<std::string, FinalRule> final;  // a metric not named here: Last

  FinalRule rule(const std::string& metric) const;
  // True when some collector may yield `metric` (a regex collector only
  // yields the names of its groups; JSON lines and files any name).
  bool may_yield(const std::string& metric) const;
  // The spec as the ASSIGN message carries it ("best" resolved to min/max).
  nlohmann::json to_json() const;
};

// Parses `value` (the field `where`, e.g. "trial.metrics"); every mistake is a
// SpecError "SOURCE: FIELD: what". `maximize_of(metric)` is the direction of
// an objective, nullopt for a metric that is not one ("best" needs it).
// `collectors_required` false: "collectors" may be absent (a preset's trial
// extends the preset's collectors, or only sets "final").
MetricsSpec parse_metrics_spec(std::string_view source, const nlohmann::json& value, const std::string& where,
                               const std::function<std::optional<bool>(const std::string&)>& maximize_of, bool collectors_required = true);

}  // namespace lorafarm::schema
