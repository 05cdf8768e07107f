// Sweep-spec parsing and validation: every rejection names the field (as a
// dotted path), the value found and what is allowed.
#include "schema/sweep_spec.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "schema/sha256.h"
#include "schema/spec_parsing.h"
#include "schema/trial_metric.h"
#include "schema/trial_preset_spec.h"

namespace lorafarm::schema {
namespace {

using nlohmann::json;
using namespace spec_parsing;

std::string get_string(std::string_view source, const json& object, const std::string& key, std::string_view where) {
  const auto& v = object.at(key);
  if (!v.is_string() || v.get<std::string>().empty()) fail(source, where, "must be a non-empty string, got " + shown(v));
  return v.get<std::string>();
}

double get_number(std::string_view source, const json& v, std::string_view where, double min_allowed) {
  if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < min_allowed)
    fail(source, where, "must be a number >= " + json(min_allowed).dump() + ", got " + shown(v));
  return v.get<double>();
}

std::int64_t get_int(std::string_view source, const json& v, std::string_view where, std::int64_t min_allowed) {
  if (!v.is_number_integer() || v.get<std::int64_t>() < min_allowed)
    fail(source, where, "must be an integer >= " + std::to_string(min_allowed) + ", got " + shown(v));
  return v.get<std::int64_t>();
}

Constraint parse_constraint(std::string_view source, const json& v, std::string_view where) {
  static const std::regex pattern(R"(^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|<|>)\s*([-+0-9.eE]+)\s*$)");
  std::smatch m;
  const std::string text = v.is_string() ? v.get<std::string>() : "";
  if (!v.is_string() || !std::regex_match(text, m, pattern))
    fail(source, where, "must be a string \"METRIC OP NUMBER\" with OP one of <=, <, >=, > (e.g. \"peak_rss_mb <= 4096\"), got " + shown(v));
  Constraint c{m[1], m[2], 0.0};
  try {
    std::size_t used = 0;
    c.bound = std::stod(m[3], &used);
    if (used != m[3].length()) throw std::invalid_argument("trailing");
  } catch (const std::exception&) {
    fail(source, where, "'" + std::string(m[3]) + "' is not a number");
  }
  return c;
}

void parse_budget(std::string_view source, const json& b, Budget& budget) {
  if (!b.is_object()) fail(source, "budget", "must be an object {\"trials\": N, ...}, got " + shown(b));
  check_keys(source, "budget", b, {"trials", "parallel", "max_attempts", "deadline", "retry_failed"});
  if (!b.contains("trials")) fail(source, "budget.trials", "missing; how many trials to run (an integer >= 1)");
  budget.trials = get_int(source, b["trials"], "budget.trials", 1);
  if (b.contains("parallel")) budget.parallel = static_cast<int>(get_int(source, b["parallel"], "budget.parallel", 0));
  if (b.contains("max_attempts")) budget.max_attempts = static_cast<int>(get_int(source, b["max_attempts"], "budget.max_attempts", 1));
  if (b.contains("retry_failed")) {
    if (!b["retry_failed"].is_boolean()) fail(source, "budget.retry_failed", "must be true or false, got " + shown(b["retry_failed"]));
    budget.retry_failed = b["retry_failed"].get<bool>();
  }
  if (b.contains("deadline")) {
    const auto& d = b["deadline"];
    static const std::regex clock(R"(^([01]?[0-9]|2[0-3]):([0-5][0-9])$)");
    if (d.is_number()) {
      budget.deadline_hours = get_number(source, d, "budget.deadline", 0.0);
    } else if (d.is_string() && std::regex_match(d.get<std::string>(), clock)) {
      budget.deadline_clock = d.get<std::string>();
    } else {
      fail(source, "budget.deadline", "must be a clock time \"HH:MM\" or a number of hours, got " + shown(d));
    }
  }
}

void parse_trial(std::string_view source, const json& t, TrialSpec& trial) {
  if (!t.is_object()) fail(source, "trial", "must be an object {\"kind\": \"engine\"|\"command\"|\"mlx_lm\"|\"hf_trainer\", ...}, got " + shown(t));
  if (!t.contains("kind")) fail(source, "trial.kind", "missing; allowed: engine, command, mlx_lm, hf_trainer");
  const auto kind = t["kind"].is_string() ? t["kind"].get<std::string>() : "";
  std::set<std::string> allowed{"kind", "timeout_seconds", "env", "stop_grace_seconds", "resources"};
  if (kind == "engine" || kind == "command") {
    trial.kind = kind == "engine" ? TrialKind::Engine : TrialKind::Command;
    allowed.insert({"command", "metrics"});  // for an engine trial: the messages below
  } else if (const auto preset = preset_kind(kind)) {
    trial.kind = TrialKind::Command;
    trial.preset = TrialPreset{};
    trial.preset->kind = *preset;
    allowed.merge(std::set<std::string>(preset_trial_fields(*preset)));
  } else {
    fail(source, "trial.kind", shown(t["kind"]) + " is not allowed; allowed: engine, command, mlx_lm, hf_trainer");
  }
  check_keys(source, "trial", t, allowed);
  if (t.contains("stop_grace_seconds")) trial.stop_grace_seconds = get_number(source, t["stop_grace_seconds"], "trial.stop_grace_seconds", 0.0);
  // A preset's own fields are read once the parameters are known (parse_trial_preset).
  if (trial.kind == TrialKind::Command && !trial.preset) {
    if (!t.contains("command")) fail(source, "trial.command", "missing; a command trial needs an argv array or a shell string");
    const auto& c = t["command"];
    if (c.is_string() && !c.get<std::string>().empty()) {
      trial.shell = true;
      trial.command = {c.get<std::string>()};
    } else if (c.is_array() && !c.empty()) {
      for (std::size_t i = 0; i < c.size(); ++i) {
        if (!c[i].is_string()) fail(source, "trial.command[" + std::to_string(i) + "]", "must be a string, got " + shown(c[i]));
        trial.command.push_back(c[i].get<std::string>());
      }
    } else {
      fail(source, "trial.command", "must be a non-empty array of strings or a shell string, got " + shown(c));
    }
  } else if (trial.kind == TrialKind::Engine && t.contains("command")) {
    fail(source, "trial.command", "only for \"kind\": \"command\"");
  }
  if (t.contains("timeout_seconds")) trial.timeout_seconds = get_number(source, t["timeout_seconds"], "trial.timeout_seconds", 0.0);
  if (t.contains("env")) {
    if (!t["env"].is_object()) fail(source, "trial.env", "must be an object of strings, got " + shown(t["env"]));
    for (const auto& [k, v] : t["env"].items()) {
      if (!v.is_string()) fail(source, "trial.env." + k, "must be a string, got " + shown(v));
      trial.env[k] = v.get<std::string>();
    }
  }
}

// `trial.metrics`, after the objectives ("best" takes an objective's
// direction) and the scheduler: each must be a name some collector yields.
void parse_trial_metrics(std::string_view source, const json& t, SweepSpec& spec) {
  if (!t.contains("metrics") && !spec.trial.preset) return;
  if (spec.trial.kind != TrialKind::Command) fail(source, "trial.metrics", "only for \"kind\": \"command\" (engine trials report JSON lines)");
  auto maximize_of = [&spec](const std::string& metric) -> std::optional<bool> {
    if (metric == spec.objective.metric) return spec.objective.maximize;
    for (const auto& o : spec.more_objectives)
      if (o.metric == metric) return o.maximize;
    return std::nullopt;
  };
  spec.trial.metrics = spec.trial.preset ? preset_trial_metrics(source, t, spec.trial.preset->kind, maximize_of)
                                         : parse_metrics_spec(source, t["metrics"], "trial.metrics", maximize_of);
  std::vector<std::string> needed{spec.objective.metric};
  for (const auto& o : spec.more_objectives) needed.push_back(o.metric);
  if (spec.scheduler.type == "asha") needed.push_back(spec.scheduler.metric);
  for (const auto& metric : needed) {
    if (is_worker_measured(metric) || spec.trial.metrics->may_yield(metric)) continue;
    fail(source, "trial.metrics.collectors", "no collector yields '" + metric + "' (the objective or scheduler metric): name a group (?<" + metric +
                                                 ">...) or give \"metric\": \"" + metric + "\"");
  }
}

// Every {placeholder} of a command template must name something a trial provides.
void check_placeholders(std::string_view source, const SweepSpec& spec) {
  static const std::set<std::string> builtins{"trial", "seed", "trial_dir", "spec_dir", "attempt"};
  static const std::regex placeholder(R"(\{([A-Za-z_][A-Za-z0-9_]*)\})");
  std::vector<std::pair<std::string, std::string>> templates;
  if (spec.trial.preset) {
    templates = preset_templates(spec.document["trial"]);
  } else {
    for (std::size_t i = 0; i < spec.trial.command.size(); ++i)
      templates.emplace_back("trial.command[" + std::to_string(i) + "]", spec.trial.command[i]);
  }
  for (const auto& [field, arg] : templates) {
    for (auto it = std::sregex_iterator(arg.begin(), arg.end(), placeholder); it != std::sregex_iterator(); ++it) {
      const std::string name = (*it)[1];
      if (builtins.count(name) || spec.space.index_of(name) || spec.fixed.contains(name)) continue;
      std::string allowed;
      for (const auto& p : spec.space.parameters()) allowed += p.name + ", ";
      for (const auto& [k, unused] : spec.fixed.items()) allowed += k + ", ";
      allowed += "trial, attempt, seed, trial_dir, spec_dir";
      fail(source, field, "placeholder {" + name + "} is not a parameter; allowed: " + allowed);
    }
  }
}

// After the objective, the trial kind and `fixed`: their values are the defaults.
void parse_scheduler(std::string_view source, const json& s, SweepSpec& spec) {
  if (!s.is_object() || !s.contains("type") || !s["type"].is_string())
    fail(source, "scheduler", "must be {\"type\": \"none\"|\"asha\", ...}, got " + shown(s));
  SchedulerSpec& scheduler = spec.scheduler;
  scheduler.type = s["type"].get<std::string>();
  if (scheduler.type == "none") {
    check_keys(source, "scheduler", s, {"type"});
    return;
  }
  if (scheduler.type != "asha") fail(source, "scheduler.type", shown(s["type"]) + " is not allowed; allowed: none, asha");
  check_keys(source, "scheduler", s, {"type", "metric", "direction", "min_resource", "max_resource", "reduction_factor", "brackets"});
  scheduler.metric = s.contains("metric") ? get_string(source, s, "metric", "scheduler.metric") : spec.objective.metric;
  scheduler.maximize = scheduler.metric == spec.objective.metric && spec.objective.maximize;
  if (s.contains("direction")) {
    const auto d = s["direction"].is_string() ? s["direction"].get<std::string>() : "";
    if (d != "minimize" && d != "maximize") fail(source, "scheduler.direction", shown(s["direction"]) + " is not allowed; allowed: minimize, maximize");
    scheduler.maximize = d == "maximize";
  }
  if (s.contains("max_resource")) {
    scheduler.max_resource = get_number(source, s["max_resource"], "scheduler.max_resource", 1.0);
  } else if (spec.trial.kind == TrialKind::Engine && spec.fixed.contains("iters") && spec.fixed["iters"].is_number()) {
    scheduler.max_resource = spec.fixed["iters"].get<double>();
  } else if (const auto budget = spec.trial.preset ? preset_step_budget(spec.trial.preset->kind, spec.fixed) : std::nullopt) {
    scheduler.max_resource = *budget;
  } else {
    fail(source, "scheduler.max_resource",
         "missing; a trial's full budget in reported steps (engine and mlx_lm trials default to fixed.iters, hf_trainer trials to fixed.max_steps)");
  }
  if (s.contains("min_resource")) scheduler.min_resource = get_number(source, s["min_resource"], "scheduler.min_resource", 1.0);
  if (s.contains("reduction_factor")) scheduler.reduction_factor = get_number(source, s["reduction_factor"], "scheduler.reduction_factor", 1.0);
  if (scheduler.reduction_factor <= 1.0)
    fail(source, "scheduler.reduction_factor", "must be a number > 1, got " + shown(s["reduction_factor"]));
  if (s.contains("brackets")) scheduler.brackets = static_cast<int>(get_int(source, s["brackets"], "scheduler.brackets", 1));
  if (scheduler.min_resource >= scheduler.max_resource)
    fail(source, "scheduler.min_resource", json(scheduler.min_resource).dump() + " must be below max_resource " + json(scheduler.max_resource).dump());
}

Objective parse_objective(std::string_view source, const json& o, const std::string& where) {
  if (!o.is_object()) fail(source, where, "must be {\"metric\": NAME, \"direction\": \"minimize\"|\"maximize\"}, got " + shown(o));
  check_keys(source, where, o, {"metric", "direction"});
  Objective objective;
  if (o.contains("metric")) objective.metric = get_string(source, o, "metric", where + ".metric");
  if (o.contains("direction")) {
    const auto d = o["direction"].is_string() ? o["direction"].get<std::string>() : "";
    if (d != "minimize" && d != "maximize") fail(source, where + ".direction", shown(o["direction"]) + " is not allowed; allowed: minimize, maximize");
    objective.maximize = d == "maximize";
  }
  return objective;
}

}  // namespace

bool Constraint::satisfied(double value) const {
  if (op == "<=") return value <= bound;
  if (op == "<") return value < bound;
  if (op == ">=") return value >= bound;
  return value > bound;
}

double Constraint::violation(double value) const { return (op == "<=" || op == "<") ? value - bound : bound - value; }

std::string Constraint::to_string() const { return metric + " " + op + " " + json(bound).dump(); }

const std::vector<std::string>& known_algorithms() {
  static const std::vector<std::string> names{"random", "sobol", "grid", "gp", "bohb", "tpe"};
  return names;
}

std::string SweepSpec::hash() const {
  json defining = document;
  defining.erase("budget");
  return sha256_hex(defining.dump());
}

std::optional<double> SweepSpec::memory_limit_mb() const {
  for (const auto& c : constraints)
    if (c.metric == "peak_rss_mb" && (c.op == "<=" || c.op == "<")) return c.bound;
  return std::nullopt;
}

namespace {

json parse_document(std::string_view text, std::string_view source) {
  json doc;
  try {
    doc = json::parse(text, nullptr, true, /*ignore_comments=*/true);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e400
    throw SpecError(std::string(source) + ": not valid JSON: " + e.what());
  }
  if (!doc.is_object()) fail(source, "(top level)", "must be a JSON object, got " + shown(doc));
  check_keys(source, "", doc,
             {"name", "seed", "model", "data", "objective", "objectives", "constraints", "budget", "search", "scheduler", "rank_selection", "search_space", "fixed", "trial", "description"});
  return doc;
}

// The experiment's name and seed.
void parse_identity(std::string_view source, const json& doc, SweepSpec& spec) {
  if (!doc.contains("name")) fail(source, "name", "missing; a name for the experiment ([A-Za-z0-9_.-]+)");
  spec.name = get_string(source, doc, "name", "name");
  static const std::regex name_pattern(R"(^[A-Za-z0-9_.-]{1,100}$)");
  if (!std::regex_match(spec.name, name_pattern)) fail(source, "name", shown(doc["name"]) + " must match [A-Za-z0-9_.-]{1,100}");

  if (doc.contains("seed")) {
    if (!doc["seed"].is_number_integer() || (doc["seed"].is_number_integer() && !doc["seed"].is_number_unsigned()))
      fail(source, "seed", "must be an integer >= 0, got " + shown(doc["seed"]));
    spec.seed = doc["seed"].get<std::uint64_t>();
  }
}

// `model` and `data`, relative to the spec's folder; an engine trial needs both.
void parse_model_and_data(std::string_view source, const json& doc, SweepSpec& spec) {
  for (const char* key : {"model", "data"}) {
    if (!doc.contains(key)) {
      if (spec.trial.kind == TrialKind::Engine) fail(source, key, "missing; an engine trial needs a model folder and a data folder");
      continue;
    }
    const auto value = get_string(source, doc, key, key);
    const auto path = std::filesystem::path(value).is_absolute() ? std::filesystem::path(value) : spec.spec_dir / value;
    // A preset's trainer also takes a hub name ("mlx-community/WikiSQL"): kept as written unless it is a local path.
    const bool as_written = spec.trial.preset && !std::filesystem::path(value).is_absolute() && !std::filesystem::exists(path);
    (std::string_view(key) == "model" ? spec.model : spec.data) = as_written ? value : path.lexically_normal().string();
  }
}

// `objective` (one) or `objectives` (two or three, no metric twice), and `constraints`.
void parse_objectives(std::string_view source, const json& doc, SweepSpec& spec) {
  if (doc.contains("objective") && doc.contains("objectives")) {
    fail(source, "objectives", "give either \"objective\" (one) or \"objectives\" (two or three), not both");
  }
  if (doc.contains("objective")) spec.objective = parse_objective(source, doc["objective"], "objective");
  if (doc.contains("objectives")) {
    const auto& list = doc["objectives"];
    if (!list.is_array() || list.size() < 2 || list.size() > 3) {
      fail(source, "objectives", "must be a list of 2 or 3 {\"metric\", \"direction\"} objects, got " + shown(list));
    }
    spec.objective = parse_objective(source, list[0], "objectives[0]");
    std::vector<std::string> seen = {spec.objective.metric};
    for (std::size_t i = 1; i < list.size(); ++i) {
      const std::string where = "objectives[" + std::to_string(i) + "]";
      spec.more_objectives.push_back(parse_objective(source, list[i], where));
      const std::string& metric = spec.more_objectives.back().metric;
      if (std::find(seen.begin(), seen.end(), metric) != seen.end()) fail(source, where + ".metric", "'" + metric + "' is listed twice");
      seen.push_back(metric);
    }
  }

  if (doc.contains("constraints")) {
    const auto& c = doc["constraints"];
    if (!c.is_array()) fail(source, "constraints", "must be an array of \"METRIC OP NUMBER\" strings, got " + shown(c));
    for (std::size_t i = 0; i < c.size(); ++i)
      spec.constraints.push_back(parse_constraint(source, c[i], "constraints[" + std::to_string(i) + "]"));
  }
}

// `search`: the algorithm and the options it accepts (enqueued points are read
// with the space, in parse_search_space).
void parse_search(std::string_view source, const json& s, SweepSpec& spec) {
  if (!s.is_object()) fail(source, "search", "must be {\"algorithm\": NAME, ...options}, got " + shown(s));
  if (!s.contains("algorithm")) fail(source, "search.algorithm", "missing");
  spec.algorithm = s["algorithm"].is_string() ? s["algorithm"].get<std::string>() : "";
  const auto& known = known_algorithms();
  if (std::find(known.begin(), known.end(), spec.algorithm) == known.end()) {
    std::string list;
    for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
    fail(source, "search.algorithm", shown(s["algorithm"]) + " is not allowed; allowed: " + list);
  }
  spec.algorithm_options = s;
  spec.algorithm_options.erase("algorithm");
  std::set<std::string> allowed = {"algorithm", "enqueue"};
  if (spec.algorithm == "grid") allowed.insert("shuffle");
  if (spec.algorithm == "gp") allowed.insert({"warm_start", "initial_trials"});
  if (spec.algorithm == "bohb") allowed.insert({"initial_trials", "random_fraction"});
  if (spec.algorithm == "tpe") allowed.insert("initial_trials");
  check_keys(source, "search", s, allowed);
  if (s.contains("shuffle") && !s["shuffle"].is_boolean()) fail(source, "search.shuffle", "must be true or false, got " + shown(s["shuffle"]));
  if (s.contains("warm_start")) {
    if (!s["warm_start"].is_string() || s["warm_start"].get<std::string>().empty())
      fail(source, "search.warm_start", "must be the name of an experiment in the same database, got " + shown(s["warm_start"]));
    spec.warm_start = s["warm_start"].get<std::string>();
  }
  if (s.contains("initial_trials")) spec.initial_trials = static_cast<int>(get_int(source, s["initial_trials"], "search.initial_trials", 1));
  if (s.contains("random_fraction") && !(get_number(source, s["random_fraction"], "search.random_fraction", 0.0) < 1.0))
    fail(source, "search.random_fraction", "must be a number in [0, 1), got " + shown(s["random_fraction"]));
}

// "bohb" models the values trials report at ASHA's rungs: it needs the
// scheduler, and models one objective.
void check_multi_fidelity(std::string_view source, const SweepSpec& spec) {
  if (spec.algorithm != "bohb") return;
  if (spec.scheduler.type != "asha")
    fail(source, "search.algorithm", "\"bohb\" needs \"scheduler\": {\"type\": \"asha\", ...}: its models are fitted at the scheduler's rungs");
  if (!spec.more_objectives.empty())
    fail(source, "search.algorithm", "\"bohb\" models one objective; use \"gp\" for several");
}

// "tpe" ranks trials by one value.
void check_single_objective(std::string_view source, const SweepSpec& spec) {
  if (spec.algorithm == "tpe" && !spec.more_objectives.empty())
    fail(source, "search.algorithm", "\"tpe\" models one objective; use \"gp\" for several");
}

// `search_space`, then the `search.enqueue` configurations it must accept.
void parse_search_space(std::string_view source, const json& doc, SweepSpec& spec) {
  if (!doc.contains("search_space")) fail(source, "search_space", "missing; {\"name\": {\"type\": ...}, ...}");
  try {
    spec.space = search::SearchSpace::from_json(doc["search_space"]);
  } catch (const search::InvalidSpace& e) {
    throw SpecError(std::string(source) + ": " + e.what());
  }
  if (spec.space.dimensions() == 0) fail(source, "search_space", "has no parameters");
  if (!doc.contains("search") || !doc["search"].contains("enqueue")) return;
  const auto& list = doc["search"]["enqueue"];
  if (!list.is_array()) fail(source, "search.enqueue", "must be a list of configurations ({\"name\": value, ...}), got " + shown(list));
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string where = "search.enqueue[" + std::to_string(i) + "]";
    if (!list[i].is_object()) fail(source, where, "must be a configuration {\"name\": value, ...}, got " + shown(list[i]));
    try {
      spec.space.validate(list[i]);
    } catch (const search::InvalidSpace& e) {
      fail(source, where, e.what());
    }
    spec.enqueue.push_back(list[i]);
  }
}

// `fixed` settings (none may also be searched) and `rank_selection`.
void parse_fixed_and_rank_selection(std::string_view source, const json& doc, SweepSpec& spec) {
  if (doc.contains("fixed")) {
    if (!doc["fixed"].is_object()) fail(source, "fixed", "must be an object of settings, got " + shown(doc["fixed"]));
    spec.fixed = doc["fixed"];
    for (const auto& [key, unused] : spec.fixed.items()) {
      if (spec.space.index_of(key)) fail(source, "fixed." + key, "is also a search_space parameter; a setting is either fixed or searched");
    }
  }
  if (doc.contains("scheduler")) parse_scheduler(source, doc["scheduler"], spec);
  if (doc.contains("rank_selection")) {
    const auto& r = doc["rank_selection"];
    if (!r.is_object()) fail(source, "rank_selection", "must be {\"epsilon\": NUMBER}, got " + shown(r));
    check_keys(source, "rank_selection", r, {"epsilon"});
    spec.rank_epsilon = r.contains("epsilon") ? get_number(source, r["epsilon"], "rank_selection.epsilon", 0.0) : 0.0;
  }
}

}  // namespace

SweepSpec parse_sweep_spec(std::string_view text, const std::filesystem::path& spec_dir, std::string_view source) {
  const json doc = parse_document(text, source);
  SweepSpec spec;
  spec.document = doc;
  spec.spec_dir = std::filesystem::absolute(spec_dir).lexically_normal();
  parse_identity(source, doc, spec);
  if (!doc.contains("trial")) fail(source, "trial", "missing; {\"kind\": \"engine\"} or {\"kind\": \"command\", \"command\": [...]}");
  parse_trial(source, doc["trial"], spec.trial);
  parse_model_and_data(source, doc, spec);
  parse_objectives(source, doc, spec);
  if (!doc.contains("budget")) fail(source, "budget", "missing; at least {\"trials\": N}");
  parse_budget(source, doc["budget"], spec.budget);
  if (doc.contains("search")) parse_search(source, doc["search"], spec);
  parse_search_space(source, doc, spec);
  parse_fixed_and_rank_selection(source, doc, spec);
  check_multi_fidelity(source, spec);
  check_single_objective(source, spec);
  if (spec.trial.preset) parse_trial_preset(source, doc["trial"], spec);
  parse_trial_metrics(source, doc["trial"], spec);
  if (doc["trial"].contains("resources")) spec.trial.resources = parse_resource_request(source, doc["trial"]["resources"], spec.space);
  check_placeholders(source, spec);
  return spec;
}

SweepSpec load_sweep_spec(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw SpecError(path.string() + ": cannot read the file");
  std::ostringstream text;
  text << in.rdbuf();
  const auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  return parse_sweep_spec(text.str(), dir, path.string());
}

}  // namespace lorafarm::schema
