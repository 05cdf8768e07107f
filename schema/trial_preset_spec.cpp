// Parsing a preset trial's fields: program or command, param_keys or
// param_flags, config, flags, metrics. Every mistake names its field.
#include "schema/trial_preset_spec.h"

#include <algorithm>
#include <functional>
#include <map>
#include <regex>

#include "schema/error.h"
#include "schema/spec_parsing.h"

namespace lorafarm::schema {
namespace {

using nlohmann::json;
using namespace spec_parsing;

std::vector<std::string> string_list(std::string_view source, const json& v, const std::string& where) {
  if (!v.is_array() || v.empty()) fail(source, where, "must be a non-empty array of strings, got " + shown(v));
  std::vector<std::string> out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_string() || v[i].get<std::string>().empty())
      fail(source, where + "[" + std::to_string(i) + "]", "must be a non-empty string, got " + shown(v[i]));
    out.push_back(v[i].get<std::string>());
  }
  return out;
}

const char* mapping_field(PresetKind kind) { return kind == PresetKind::MlxLm ? "param_keys" : "param_flags"; }

// A parameter's target as the user mapped it: a YAML key path or a flag; null =
// passed nowhere.
ParamTarget user_target(std::string_view source, PresetKind kind, const std::string& name, const json& v) {
  const std::string where = std::string("trial.") + mapping_field(kind) + "." + name;
  if (v.is_null()) return {};
  static const std::regex key_path(R"(^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$)");
  static const std::regex flag(R"(^--?[A-Za-z0-9][A-Za-z0-9_.-]*$)");
  const auto text = v.is_string() ? v.get<std::string>() : "";
  if (kind == PresetKind::MlxLm && !std::regex_match(text, key_path))
    fail(source, where,
         "must be a YAML key path such as \"lora_parameters.rank\", or null, "
         "got " +
             shown(v));
  if (kind == PresetKind::HfTrainer && !std::regex_match(text, flag))
    fail(source, where, "must be a flag such as \"--lora_r\", or null, got " + shown(v));
  return {text};
}

void parse_flags(std::string_view source, const json& f, TrialPreset& preset) {
  if (!f.is_object()) fail(source, "trial.flags", "must be an object {\"--flag\": value}, got " + shown(f));
  for (const auto& [flag, value] : f.items()) {
    const std::string where = "trial.flags." + flag;
    if (flag.size() < 2 || flag.front() != '-') fail(source, where, "a flag starts with '-'");
    bool ok = value.is_primitive();
    if (value.is_array())
      ok = std::all_of(value.begin(), value.end(), [](const json& x) { return x.is_string() || x.is_number(); });
    if (!ok)
      fail(source, where,
           "must be a string, number, true, false, null or a list of strings "
           "and numbers, got " +
               shown(value));
    preset.flags.emplace_back(flag, value);
  }
}

// The names every template string uses as {placeholders}.
std::set<std::string> placeholders_used(const json& trial) {
  static const std::regex placeholder(R"(\{([A-Za-z_][A-Za-z0-9_]*)\})");
  std::set<std::string> used;
  for (const auto& [field, text] : preset_templates(trial))
    for (auto it = std::sregex_iterator(text.begin(), text.end(), placeholder); it != std::sregex_iterator(); ++it)
      used.insert((*it)[1]);
  return used;
}

// Where the parameter or fixed setting `name` (written at `where`) goes.
ParamTarget target_of(std::string_view source, const std::string& name, const std::string& where, const json& trial,
                      PresetKind kind, const std::set<std::string>& used) {
  const char* field = mapping_field(kind);
  if (trial.contains(field) && trial[field].contains(name)) return user_target(source, kind, name, trial[field][name]);
  const auto& defaults = preset_default_targets(kind);
  if (const auto it = defaults.find(name); it != defaults.end()) return it->second;
  if (used.count(name)) return {};
  fail(source, where,
       "the " + preset_name(kind) + " preset has no place for '" + name +
           "' (docs/presets.md lists the names it knows); map it with trial." + field + " {\"" + name +
           "\": " + (kind == PresetKind::MlxLm ? "\"yaml.key\"" : "\"--flag\"") +
           "}, or null to pass it only as LORAFARM_PARAM_" + name);
}

void check_targets(std::string_view source, const TrialPreset& preset) {
  std::map<std::string, std::string> owner;
  bool has_rank = false;
  for (const auto& [name, target] : preset.targets)
    has_rank |= (name == "rank" || name == "lora_r") && !target.to.empty();
  for (const auto& [name, target] : preset.targets) {
    if (target.to.empty()) continue;
    if ((target.conversion == Conversion::AlphaOverRank || target.conversion == Conversion::ScaleTimesRank) &&
        !has_rank)
      fail(source, "trial",
           "'" + name + "' is converted with the LoRA rank (" +
               (target.conversion == Conversion::AlphaOverRank ? "scale = alpha / rank" : "lora_alpha = scale * rank") +
               ") and there is no parameter or fixed setting \"rank\"");
    const auto [it, inserted] = owner.emplace(target.to, name);
    if (!inserted)
      fail(source, "trial",
           "'" + it->second + "' and '" + name + "' both set " + target.to + "; give only one of them");
  }
}

void resolve_targets(std::string_view source, const json& trial, SweepSpec& spec) {
  TrialPreset& preset = *spec.trial.preset;
  const char* field = mapping_field(preset.kind);
  if (trial.contains(field)) {
    if (!trial[field].is_object())
      fail(source, std::string("trial.") + field,
           "must be an object {\"parameter\": target or null}, got " + shown(trial[field]));
    for (const auto& [name, unused] : trial[field].items())
      if (!spec.space.index_of(name) && !spec.fixed.contains(name))
        fail(source, std::string("trial.") + field + "." + name,
             "'" + name + "' is not a search_space parameter or a fixed setting");
  }
  const auto used = placeholders_used(trial);
  for (const auto& p : spec.space.parameters())
    preset.targets[p.name] = target_of(source, p.name, "search_space." + p.name, trial, preset.kind, used);
  for (const auto& [name, unused] : spec.fixed.items())
    preset.targets[name] = target_of(source, name, "fixed." + name, trial, preset.kind, used);
  check_targets(source, preset);
  if (spec.fixed.contains("fine_tune_type")) {
    const auto& t = spec.fixed["fine_tune_type"];
    if (t != "lora" && t != "dora" && t != "full")
      fail(source, "fixed.fine_tune_type", shown(t) + " is not allowed; allowed: lora, dora, full");
  }
  for (const char* key : {"model", "data"})
    if (spec.fixed.contains(key) && !(std::string_view(key) == "model" ? spec.model : spec.data).empty())
      fail(source, std::string("fixed.") + key,
           std::string("is also given as the top-level \"") + key + "\"; give it once");
}

}  // namespace

const std::set<std::string>& preset_trial_fields(PresetKind kind) {
  static const std::set<std::string> mlx{"program", "config", "param_keys", "flags", "metrics"};
  static const std::set<std::string> hf{"command", "param_flags", "flags", "metrics"};
  return kind == PresetKind::MlxLm ? mlx : hf;
}

std::vector<std::pair<std::string, std::string>> preset_templates(const json& trial) {
  std::vector<std::pair<std::string, std::string>> out;
  std::function<void(const std::string&, const json&)> walk = [&](const std::string& where, const json& v) {
    if (v.is_string()) out.emplace_back(where, v.get<std::string>());
    if (v.is_array())
      for (std::size_t i = 0; i < v.size(); ++i) walk(where + "[" + std::to_string(i) + "]", v[i]);
    if (v.is_object())
      for (const auto& [k, item] : v.items()) walk(where + "." + k, item);
  };
  for (const char* field : {"program", "command", "flags", "config"})
    if (trial.contains(field)) walk(std::string("trial.") + field, trial[field]);
  return out;
}

void parse_trial_preset(std::string_view source, const json& trial, SweepSpec& spec) {
  TrialPreset& preset = *spec.trial.preset;
  if (preset.kind == PresetKind::MlxLm) {
    preset.program = trial.contains("program") ? string_list(source, trial["program"], "trial.program")
                                               : std::vector<std::string>{"mlx_lm.lora"};
    if (trial.contains("config")) {
      if (!trial["config"].is_object())
        fail(source, "trial.config", "must be an object of mlx-lm config keys, got " + shown(trial["config"]));
      preset.config = trial["config"];
    }
  } else {
    if (!trial.contains("command"))
      fail(source, "trial.command",
           "missing; the training script's command, e.g. [\"python3\", "
           "\"{spec_dir}/train.py\"] or [\"trl\", \"sft\"]");
    preset.program = string_list(source, trial["command"], "trial.command");
  }
  if (trial.contains("flags")) parse_flags(source, trial["flags"], preset);
  preset.model = spec.model;
  preset.data = spec.data;
  resolve_targets(source, trial, spec);
}

MetricsSpec preset_trial_metrics(std::string_view source, const json& trial, PresetKind kind,
                                 const std::function<std::optional<bool>(const std::string&)>& maximize_of) {
  MetricsSpec merged = parse_metrics_spec(preset_name(kind) + " preset", preset_metrics(kind), "metrics", maximize_of);
  if (!trial.contains("metrics")) return merged;
  json user = trial["metrics"];
  if (!user.is_object())
    fail(source, "trial.metrics",
         "must be an object {\"collectors\": [...], \"final\": {...}, "
         "\"replace\": false}, got " +
             shown(user));
  bool replace = false;
  if (user.contains("replace")) {
    if (!user["replace"].is_boolean())
      fail(source, "trial.metrics.replace", "must be true or false, got " + shown(user["replace"]));
    replace = user["replace"].get<bool>();
    user.erase("replace");
  }
  const MetricsSpec own = parse_metrics_spec(source, user, "trial.metrics", maximize_of,
                                             /*collectors_required=*/replace);
  if (replace) return own;
  merged.collectors.insert(merged.collectors.end(), own.collectors.begin(), own.collectors.end());
  for (const auto& [metric, rule] : own.final) merged.final[metric] = rule;
  return merged;
}

}  // namespace lorafarm::schema
