// Trial presets: their wire form (the ASSIGN's "preset"), the conversions of
// parameter values, and the dispatch to each preset's expansion.
#include "schema/trial_preset.h"

#include <cmath>

#include "schema/error.h"
#include "schema/preset_kinds.h"

namespace lorafarm::schema {

using nlohmann::json;

namespace {

const std::map<Conversion, std::string>& conversion_names() {
  static const std::map<Conversion, std::string> names{{Conversion::None, "none"},
                                                       {Conversion::AlphaOverRank, "alpha_over_rank"},
                                                       {Conversion::ScaleTimesRank, "scale_times_rank"},
                                                       {Conversion::PeftFlags, "peft_flags"}};
  return names;
}

Conversion conversion_named(const std::string& name) {
  for (const auto& [c, n] : conversion_names())
    if (n == name) return c;
  throw SpecError("preset: unknown conversion '" + name + "'");
}

// The trial's rank: "rank" or "lora_r", whichever the trial has.
double rank_of(const std::string& name, const json& values) {
  for (const char* key : {"rank", "lora_r"})
    if (values.contains(key) && values[key].is_number()) return values[key].get<double>();
  throw SpecError("trial: '" + name +
                  "' is converted with the LoRA rank, and the trial has no "
                  "numeric rank (a parameter \"rank\" or \"lora_r\")");
}

}  // namespace

std::optional<PresetKind> preset_kind(std::string_view name) {
  if (name == "mlx_lm") return PresetKind::MlxLm;
  if (name == "hf_trainer") return PresetKind::HfTrainer;
  return std::nullopt;
}

std::string preset_name(PresetKind kind) { return kind == PresetKind::MlxLm ? "mlx_lm" : "hf_trainer"; }

json TrialPreset::to_json() const {
  json targets_json = json::object();
  for (const auto& [name, t] : targets)
    targets_json[name] = {{"to", t.to}, {"conversion", conversion_names().at(t.conversion)}};
  json flags_json = json::array();
  for (const auto& [flag, value] : flags) flags_json.push_back({flag, value});
  return {{"kind", preset_name(kind)},
          {"program", program},
          {"targets", targets_json},
          {"config", config},
          {"flags", flags_json},
          {"model", model},
          {"data", data}};
}

TrialPreset TrialPreset::from_json(const json& value) {
  TrialPreset p;
  const auto kind = preset_kind(value.at("kind").get<std::string>());
  if (!kind) throw SpecError("preset: unknown kind " + value.at("kind").dump());
  p.kind = *kind;
  p.program = value.at("program").get<std::vector<std::string>>();
  for (const auto& [name, t] : value.at("targets").items())
    p.targets[name] = {t.at("to").get<std::string>(), conversion_named(t.at("conversion").get<std::string>())};
  p.config = value.value("config", json::object());
  for (const auto& pair : value.value("flags", json::array()))
    p.flags.emplace_back(pair.at(0).get<std::string>(), pair.at(1));
  p.model = value.value("model", std::string());
  p.data = value.value("data", std::string());
  return p;
}

std::optional<json> target_value(const std::string& name, const ParamTarget& target, const json& values) {
  if (!values.contains(name) || values[name].is_null()) return std::nullopt;
  const json& v = values[name];
  if (target.conversion != Conversion::AlphaOverRank && target.conversion != Conversion::ScaleTimesRank) return v;
  if (v.is_string() && v.get<std::string>().starts_with("{")) {  // a placeholder, as `lorafarm validate SPEC`
                                                                 // shows the expansion
    const auto rank = values.contains("rank") ? "{rank}" : "{lora_r}";
    return json(v.get<std::string>() + (target.conversion == Conversion::AlphaOverRank ? "/" : "*") + rank);
  }
  if (!v.is_number()) throw SpecError("trial: '" + name + "' must be a number, got " + v.dump());
  const double rank = rank_of(name, values);
  if (rank <= 0) throw SpecError("trial: the LoRA rank must be > 0 to convert '" + name + "'");
  const double converted =
      target.conversion == Conversion::AlphaOverRank ? v.get<double>() / rank : v.get<double>() * rank;
  // lora_alpha is an int in TRL's ModelConfig: a whole product goes as an
  // integer.
  if (target.conversion == Conversion::ScaleTimesRank && converted == std::floor(converted) &&
      std::fabs(converted) < 1e15)
    return json(static_cast<std::int64_t>(converted));
  return json(converted);
}

json substituted(const json& value, const Substitute& substitute) {
  if (value.is_string()) return substitute(value.get<std::string>());
  if (!value.is_structured()) return value;
  json out = value;
  for (auto& item : out) item = substituted(item, substitute);
  return out;
}

PresetRun expand_preset(const TrialPreset& preset, const json& values,
                        const std::function<std::string(std::string_view)>& substitute) {
  return preset.kind == PresetKind::MlxLm ? expand_mlx_lm(preset, values, substitute)
                                          : expand_hf_trainer(preset, values, substitute);
}

json preset_metrics(PresetKind kind) { return kind == PresetKind::MlxLm ? mlx_lm_metrics() : hf_trainer_metrics(); }

const std::map<std::string, ParamTarget>& preset_default_targets(PresetKind kind) {
  return kind == PresetKind::MlxLm ? mlx_lm_targets() : hf_trainer_targets();
}

std::optional<double> preset_step_budget(PresetKind kind, const json& fixed) {
  const std::vector<std::string> keys =
      kind == PresetKind::MlxLm ? std::vector<std::string>{"iters"} : std::vector<std::string>{"max_steps", "iters"};
  for (const auto& key : keys)
    if (fixed.contains(key) && fixed[key].is_number() && fixed[key].get<double>() >= 1) return fixed[key].get<double>();
  return std::nullopt;
}

}  // namespace lorafarm::schema
