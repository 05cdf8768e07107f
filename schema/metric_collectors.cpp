// Parsing and validation of `trial.metrics` (schema/metric_collectors.h):
// each mistake names its field, e.g. trial.metrics.collectors[1].regex.
#include "schema/metric_collectors.h"

#include <set>

#include "schema/error.h"
#include "schema/spec_parsing.h"

namespace lorafarm::schema {
namespace {

using nlohmann::json;
using namespace spec_parsing;

std::string string_field(std::string_view source, const json& object, const std::string& key, const std::string& where) {
  if (!object.contains(key)) fail(source, where + "." + key, "missing");
  const auto& v = object[key];
  if (!v.is_string() || v.get<std::string>().empty()) fail(source, where + "." + key, "must be a non-empty string, got " + shown(v));
  return v.get<std::string>();
}

// The pattern's step group and metric groups: named groups are metrics
// (`step` is the step); with "metric", the first other group is its value.
void parse_regex(std::string_view source, const json& c, const std::string& where, CollectorSpec& collector) {
  check_keys(source, where, c, {"source", "regex", "metric"});
  const auto text = string_field(source, c, "regex", where);
  try {
    collector.pattern.emplace(text);
  } catch (const RegexError& e) {
    fail(source, where + ".regex", std::string("not a valid PCRE2 pattern: ") + e.what());
  }
  const auto& names = collector.pattern->group_names();
  collector.step_group = collector.pattern->group_number("step");
  for (std::size_t i = 1; i < names.size(); ++i)
    if (!names[i].empty() && names[i] != "step") collector.metric_groups.emplace_back(static_cast<int>(i), names[i]);
  if (c.contains("metric")) {
    collector.metric = string_field(source, c, "metric", where);
    if (!collector.metric_groups.empty())
      fail(source, where + ".metric", "the pattern also names metric groups (?<" + collector.metric_groups.front().second +
                                          ">...); give either \"metric\" with one unnamed value group, or named groups");
    for (std::size_t i = 1; i < names.size() && collector.metric_groups.empty(); ++i)
      if (static_cast<int>(i) != collector.step_group) collector.metric_groups.emplace_back(static_cast<int>(i), collector.metric);
    if (collector.metric_groups.empty())
      fail(source, where + ".regex", "has no capture group for the value of \"" + collector.metric + "\", e.g. \"Val loss ([0-9.]+)\"");
    return;
  }
  if (collector.metric_groups.empty() && collector.step_group == 0)
    fail(source, where + ".regex", "captures neither a metric nor a step: name the value's group, e.g. (?<val_loss>[0-9.]+), or give \"metric\"");
}

void parse_file(std::string_view source, const json& c, const std::string& where, CollectorSpec& collector) {
  check_keys(source, where, c, {"source", "path", "format", "records", "step", "rename"});
  collector.path = string_field(source, c, "path", where);
  collector.jsonl = collector.path.size() > 6 && collector.path.substr(collector.path.size() - 6) == ".jsonl";
  if (c.contains("format")) {
    const auto format = c["format"].is_string() ? c["format"].get<std::string>() : "";
    if (format != "json" && format != "jsonl") fail(source, where + ".format", shown(c["format"]) + " is not allowed; allowed: json, jsonl");
    collector.jsonl = format == "jsonl";
  }
  if (c.contains("records")) {
    if (collector.jsonl) fail(source, where + ".records", "only for \"format\": \"json\" (each JSON line is a record)");
    collector.records = string_field(source, c, "records", where);
    if (collector.records.front() == '/') {
      try {
        [[maybe_unused]] const json::json_pointer pointer(collector.records);
      } catch (const json::exception&) {
        fail(source, where + ".records", "'" + collector.records + "' is not a JSON pointer (e.g. /log_history)");
      }
    }
  }
  if (c.contains("step")) collector.step_key = string_field(source, c, "step", where);
  if (c.contains("rename")) {
    if (!c["rename"].is_object()) fail(source, where + ".rename", "must be an object {\"key in the file\": \"metric name\"}, got " + shown(c["rename"]));
    for (const auto& [key, name] : c["rename"].items()) {
      if (!name.is_string() || name.get<std::string>().empty()) fail(source, where + ".rename." + key, "must be a non-empty string, got " + shown(name));
      collector.rename[key] = name.get<std::string>();
    }
  }
}

CollectorSpec parse_collector(std::string_view source, const json& c, const std::string& where) {
  if (!c.is_object()) fail(source, where, "must be an object {\"source\": \"json_lines\"|\"stdout\"|\"stderr\"|\"file\", ...}, got " + shown(c));
  const auto kind = c.contains("source") && c["source"].is_string() ? c["source"].get<std::string>() : "";
  CollectorSpec collector;
  if (kind == "json_lines") {
    check_keys(source, where, c, {"source"});
  } else if (kind == "stdout" || kind == "stderr") {
    collector.source = kind == "stdout" ? CollectorSource::Stdout : CollectorSource::Stderr;
    parse_regex(source, c, where, collector);
  } else if (kind == "file") {
    collector.source = CollectorSource::File;
    parse_file(source, c, where, collector);
  } else {
    fail(source, where + ".source", (c.contains("source") ? shown(c["source"]) + " is not allowed" : std::string("missing")) +
                                        "; allowed: json_lines, stdout, stderr, file");
  }
  return collector;
}

FinalRule parse_rule(std::string_view source, const std::string& metric, const json& v, const std::string& where,
                     const std::function<std::optional<bool>(const std::string&)>& maximize_of) {
  const auto rule = v.is_string() ? v.get<std::string>() : "";
  if (rule == "last") return FinalRule::Last;
  if (rule == "min") return FinalRule::Min;
  if (rule == "max") return FinalRule::Max;
  if (rule != "best") fail(source, where, shown(v) + " is not allowed; allowed: last, best, min, max");
  const auto maximize = maximize_of ? maximize_of(metric) : std::nullopt;
  if (!maximize) fail(source, where, "\"best\" needs a direction, and '" + metric + "' is not an objective; use \"min\" or \"max\"");
  return *maximize ? FinalRule::Max : FinalRule::Min;
}

}  // namespace

std::string CollectorSpec::renamed(const std::string& key) const {
  const auto it = rename.find(key);
  return it == rename.end() ? key : it->second;
}

FinalRule MetricsSpec::rule(const std::string& metric) const {
  const auto it = final.find(metric);
  return it == final.end() ? FinalRule::Last : it->second;
}

bool MetricsSpec::may_yield(const std::string& metric) const {
  for (const auto& c : collectors) {
    if (c.source == CollectorSource::JsonLines || c.source == CollectorSource::File) return true;
    for (const auto& [group, name] : c.metric_groups)
      if (name == metric) return true;
  }
  return false;
}

nlohmann::json MetricsSpec::to_json() const {
  json out{{"collectors", json::array()}, {"final", json::object()}};
  for (const auto& c : collectors) {
    json j;
    switch (c.source) {
      case CollectorSource::JsonLines: j = {{"source", "json_lines"}}; break;
      case CollectorSource::Stdout:
      case CollectorSource::Stderr:
        j = {{"source", c.source == CollectorSource::Stdout ? "stdout" : "stderr"}, {"regex", c.pattern->text()}};
        if (!c.metric.empty()) j["metric"] = c.metric;
        break;
      case CollectorSource::File:
        j = {{"source", "file"}, {"path", c.path}, {"format", c.jsonl ? "jsonl" : "json"}, {"step", c.step_key}};
        if (!c.records.empty()) j["records"] = c.records;
        if (!c.rename.empty()) j["rename"] = c.rename;
        break;
    }
    out["collectors"].push_back(j);
  }
  for (const auto& [metric, rule] : final) out["final"][metric] = rule == FinalRule::Last ? "last" : rule == FinalRule::Min ? "min" : "max";
  return out;
}

MetricsSpec parse_metrics_spec(std::string_view source, const json& value, const std::string& where,
                               const std::function<std::optional<bool>(const std::string&)>& maximize_of, bool collectors_required) {
  if (!value.is_object()) fail(source, where, "must be an object {\"collectors\": [...], \"final\": {...}}, got " + shown(value));
  check_keys(source, where, value, {"collectors", "final"});
  MetricsSpec spec;
  if (value.contains("collectors") || collectors_required) {
    if (!value.contains("collectors")) fail(source, where + ".collectors", "missing; a list of collectors, e.g. [{\"source\": \"json_lines\"}]");
    const auto& list = value["collectors"];
    if (!list.is_array() || list.empty()) fail(source, where + ".collectors", "must be a non-empty list of collectors, got " + shown(list));
    for (std::size_t i = 0; i < list.size(); ++i)
      spec.collectors.push_back(parse_collector(source, list[i], where + ".collectors[" + std::to_string(i) + "]"));
  }
  if (value.contains("final")) {
    const auto& final = value["final"];
    if (!final.is_object()) fail(source, where + ".final", "must be an object {\"metric\": \"last\"|\"best\"|\"min\"|\"max\"}, got " + shown(final));
    for (const auto& [metric, rule] : final.items()) spec.final[metric] = parse_rule(source, metric, rule, where + ".final." + metric, maximize_of);
  }
  return spec;
}

}  // namespace lorafarm::schema
