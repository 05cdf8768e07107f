// The mlx_lm preset: the trial's parameters as mlx-lm's YAML config (the keys
// of CONFIG_DEFAULTS in mlx_lm/lora.py), `mlx_lm.lora --config FILE`, and
// collectors for the lines mlx_lm/tuner/trainer.py and mlx_lm/lora.py print.
#include <string>

#include "schema/preset_kinds.h"
#include "schema/yaml_text.h"

namespace lorafarm::schema {
namespace {

using nlohmann::json;

constexpr const char* kConfigFile = "mlx_lm_config.yaml";

// Sets `value` at a dotted key path ("lora_parameters.rank"), creating objects
// on the way.
void set_path(json& root, const std::string& path, const json& value) {
  json* node = &root;
  std::size_t start = 0;
  for (std::size_t dot; (dot = path.find('.', start)) != std::string::npos; start = dot + 1) {
    json& child = (*node)[path.substr(start, dot - start)];
    if (!child.is_object()) child = json::object();
    node = &child;
  }
  (*node)[path.substr(start)] = value;
}

// `over` set onto `base`: objects merge key by key, null removes a key.
void merge(json& base, const json& over) {
  for (const auto& [key, value] : over.items()) {
    if (value.is_null())
      base.erase(key);
    else if (value.is_object() && base.contains(key) && base[key].is_object())
      merge(base[key], value);
    else
      base[key] = value;
  }
}

// "Iter N: Train loss X, ..., FIELD VALUE": one pattern per field, so that a
// field mlx-lm adds or moves does not hide the others. The step is the
// line's own (the first pattern), see docs/presets.md.
json train_field(const std::string& label, const std::string& metric, const std::string& value = kNumber,
                 const std::string& unit = "") {
  return {{"source", "stdout"},
          {"regex", "^Iter \\d+: Train loss .*?, " + label + " (?<" + metric + ">" + value + ")" + unit}};
}

}  // namespace

const std::map<std::string, ParamTarget>& mlx_lm_targets() {
  static const std::map<std::string, ParamTarget> targets = [] {
    std::map<std::string, ParamTarget> t;
    for (const char* key : {"model",
                            "data",
                            "fine_tune_type",
                            "optimizer",
                            "optimizer_config",
                            "num_layers",
                            "batch_size",
                            "iters",
                            "val_batches",
                            "learning_rate",
                            "steps_per_report",
                            "steps_per_eval",
                            "grad_accumulation_steps",
                            "resume_adapter_file",
                            "adapter_path",
                            "save_every",
                            "test",
                            "test_batches",
                            "max_seq_length",
                            "grad_checkpoint",
                            "lr_schedule",
                            "mask_prompt",
                            "seed",
                            "report_to",
                            "project_name",
                            "hf_dataset"})
      t[key] = {key};
    for (const char* key : {"rank", "scale", "dropout", "keys"}) t[key] = {std::string("lora_parameters.") + key};
    t["alpha"] = {"lora_parameters.scale", Conversion::AlphaOverRank};
    return t;
  }();
  return targets;
}

json mlx_lm_metrics() {
  const std::string n = kNumber;
  json collectors = json::array();
  collectors.push_back(
      {{"source", "stdout"},
       {"regex", "^Iter (?<step>\\d+): Val loss (?<val_loss>" + n + "), Val took (?<val_time>" + n + ")s"}});
  collectors.push_back({{"source", "stdout"}, {"regex", "^Iter (?<step>\\d+): Train loss (?<train_loss>" + n + ")"}});
  collectors.push_back(train_field("Learning Rate", "learning_rate"));
  collectors.push_back(train_field("It/sec", "iterations_per_second"));
  collectors.push_back(train_field("Tokens/sec", "tokens_per_second"));
  collectors.push_back(train_field("Trained Tokens", "trained_tokens", "\\d+"));
  collectors.push_back(train_field("Peak mem", "peak_memory_gb", kNumber, " GB"));
  collectors.push_back(
      {{"source", "stdout"}, {"regex", "^Test loss (?<test_loss>" + n + "), Test ppl (?<test_ppl>" + n + ")"}});
  return {{"collectors", collectors}, {"final", json::object()}};
}

PresetRun expand_mlx_lm(const TrialPreset& preset, const json& values, const Substitute& substitute) {
  const std::string trial_dir = values.at("trial_dir").get<std::string>();
  json config = json::object();
  if (!preset.model.empty()) config["model"] = preset.model;
  if (!preset.data.empty()) config["data"] = preset.data;
  config["train"] = true;
  config["adapter_path"] = trial_dir + "/artifacts/adapters";  // the artifact folder: recorded, and fetched home
  if (values.contains("seed")) config["seed"] = values["seed"];
  for (const auto& [name, target] : preset.targets) {
    if (target.to.empty()) continue;
    if (const auto value = target_value(name, target, values)) set_path(config, target.to, *value);
  }
  merge(config, substituted(preset.config, substitute));

  PresetRun run;
  run.files.push_back({kConfigFile,
                       "# mlx-lm configuration written by lorafarm's mlx_lm "
                       "preset (docs/presets.md)\n" +
                           yaml_text(config)});
  for (const auto& arg : preset.program) run.argv.push_back(substitute(arg));
  run.argv.push_back("--config");
  run.argv.push_back(trial_dir + "/" + kConfigFile);
  for (auto& arg : flag_arguments({}, preset.flags, substitute)) run.argv.push_back(std::move(arg));
  return run;
}

}  // namespace lorafarm::schema
