// `lorafarm validate SPEC`: the spec parsed as `sweep` would, then a trial's
// command line, files and collectors printed with {placeholders} for the
// values that differ between trials.
#include "cli/spec_check.h"

#include "cli/command.h"
#include "schema/trial_preset.h"

namespace lorafarm::cli {

using nlohmann::json;

namespace {

std::string target_text(const schema::ParamTarget& t) {
  if (t.to.empty()) return "(not passed; a {placeholder} and LORAFARM_PARAM_*)";
  switch (t.conversion) {
    case schema::Conversion::AlphaOverRank:
      return t.to + " = alpha / rank";
    case schema::Conversion::ScaleTimesRank:
      return t.to + " = scale * rank";
    case schema::Conversion::PeftFlags:
      return "--use_peft (lora), --use_peft --use_dora (dora), nothing (full)";
    case schema::Conversion::None:
      break;
  }
  return t.to;
}

json preset_expansion(const schema::SweepSpec& spec, json& out) {
  const auto& preset = *spec.trial.preset;
  json values = spec.fixed;
  for (const auto& p : spec.space.parameters()) values[p.name] = "{" + p.name + "}";
  if (!values.contains("seed")) values["seed"] = "{seed}";
  values["trial_dir"] = "{trial_dir}";
  const auto run = schema::expand_preset(preset, values, [](std::string_view text) { return std::string(text); });
  out["command"] = run.argv;
  for (const auto& file : run.files)
    out["files"].push_back({{"path", "{trial_dir}/" + file.name}, {"text", file.text}});
  for (const auto& [name, target] : preset.targets) out["parameters"][name] = target_text(target);
  return out;
}

void print_text(const json& e, std::ostream& out) {
  out << "trial kind: " << e["kind"].get<std::string>()
      << "\ncommand (each trial; {name} is replaced by its value):\n ";
  for (const auto& arg : e["command"]) out << " " << arg.get<std::string>();
  out << "\n";
  for (const auto& file : e["files"])
    out << "file " << file["path"].get<std::string>() << ":\n" << file["text"].get<std::string>();
  if (!e["parameters"].empty()) out << "parameters:\n";
  for (const auto& [name, target] : e["parameters"].items())
    out << "  " << name << " -> " << target.get<std::string>() << "\n";
  if (e["metrics"].is_null()) {
    out << "metrics: lorafarm's JSON lines on stdout (the {\"final\": true} "
           "line is the result)\n";
    return;
  }
  out << "metric collectors:\n";
  for (const auto& c : e["metrics"]["collectors"]) out << "  " << c.dump() << "\n";
  out << "final values: "
      << (e["metrics"]["final"].empty() ? "the last value of each metric"
                                        : e["metrics"]["final"].dump() + ", else the last")
      << "\n";
}

}  // namespace

json trial_expansion(const schema::SweepSpec& spec) {
  json out{{"files", json::array()}, {"parameters", json::object()}, {"metrics", json()}};
  if (spec.trial.metrics) out["metrics"] = spec.trial.metrics->to_json();
  if (spec.trial.kind == schema::TrialKind::Engine) {
    out["kind"] = "engine";
    out["command"] = {"lorafarm", "train", "--config", "{trial_dir}/trial.json", "--json"};
    return out;
  }
  if (spec.trial.preset) {
    out["kind"] = schema::preset_name(spec.trial.preset->kind);
    return preset_expansion(spec, out);
  }
  out["kind"] = "command";
  out["command"] = spec.trial.shell ? json{"/bin/sh", "-c", spec.trial.command.front()} : json(spec.trial.command);
  return out;
}

int check_spec(const std::filesystem::path& path, bool as_json, std::ostream& out) {
  const auto spec = schema::load_sweep_spec(path);
  const json expansion = trial_expansion(spec);
  if (as_json) {
    out << json{{"spec", path.string()}, {"ok", true}, {"experiment", spec.name}, {"trial", expansion}}.dump(2) << "\n";
    return kExitOk;
  }
  out << path.string() << ": valid; experiment " << spec.name << ", " << spec.space.dimensions()
      << " searched parameter(s), " << spec.budget.trials << " trial(s)\n";
  print_text(expansion, out);
  return kExitOk;
}

}  // namespace lorafarm::cli
