// Trial presets: `"kind": "mlx_lm"` and `"kind": "hf_trainer"` are command
// trials whose command line, config file and metric collectors lorafarm
// writes from the trial's parameters. docs/presets.md is the user guide.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lorafarm::schema {

enum class PresetKind { MlxLm, HfTrainer };

std::optional<PresetKind> preset_kind(std::string_view name);
std::string preset_name(PresetKind kind);

// How a parameter's value is converted on its way to the trainer.
enum class Conversion {
  None,
  AlphaOverRank,   // mlx_lm: scale = alpha / rank (PEFT's scaling)
  ScaleTimesRank,  // hf_trainer: lora_alpha = scale * rank
  PeftFlags,       // hf_trainer fine_tune_type: lora -> --use_peft, dora ->
                   // --use_peft --use_dora, full -> nothing
};

// Where a parameter goes: a YAML key path ("lora_parameters.rank", mlx_lm) or
// a flag ("--lora_r", hf_trainer); an empty `to` passes it nowhere (the
// parameter is only a {placeholder} or an environment variable).
struct ParamTarget {
  std::string to;
  Conversion conversion = Conversion::None;
};

struct TrialPreset {
  PresetKind kind = PresetKind::MlxLm;
  // mlx_lm: the program run with `--config FILE` (default ["mlx_lm.lora"]);
  // hf_trainer: the script's command, flags are appended to it.
  std::vector<std::string> program;
  std::map<std::string, ParamTarget> targets;        // every parameter and fixed setting
  nlohmann::json config = nlohmann::json::object();  // mlx_lm: YAML keys set over the generated ones
  // Flags set over the generated ones, in order: "--flag": value, true (bare
  // flag), false or null (flag removed), or a list (one argument each).
  std::vector<std::pair<std::string, nlohmann::json>> flags;
  std::string model;  // from the spec's top-level "model"/"data" ("" when absent)
  std::string data;

  nlohmann::json to_json() const;
  // From an ASSIGN's "preset" (the coordinator validated the spec).
  static TrialPreset from_json(const nlohmann::json& value);
};

// A file the preset writes into the trial folder before the trial starts.
struct PresetFile {
  std::string name;  // relative to the trial folder
  std::string text;
};

struct PresetRun {
  std::vector<std::string> argv;
  std::vector<PresetFile> files;
};

// The trial's command line and files. `values`: the parameters and fixed
// settings (typed; an absent parameter is not passed), plus "seed" and
// "trial_dir". `substitute` replaces {placeholders} in strings the spec wrote
// (program, flags, config); values themselves are never substituted again.
PresetRun expand_preset(const TrialPreset& preset, const nlohmann::json& values,
                        const std::function<std::string(std::string_view)>& substitute);

// The metric collectors a preset brings (a `trial.metrics` value).
nlohmann::json preset_metrics(PresetKind kind);

// The parameters a preset knows, with their default targets.
const std::map<std::string, ParamTarget>& preset_default_targets(PresetKind kind);

// The preset's share of `trial.scheduler.max_resource` defaults: the fixed
// setting that is a trial's full budget in reported steps ("iters" for
// mlx_lm; "max_steps" or "iters" for hf_trainer).
std::optional<double> preset_step_budget(PresetKind kind, const nlohmann::json& fixed);

}  // namespace lorafarm::schema
