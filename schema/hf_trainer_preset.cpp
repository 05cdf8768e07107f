// The hf_trainer preset: the trial's parameters as the flags of a Hugging Face
// Trainer or TRL script (TrainingArguments, TRL's SFTConfig, ModelConfig and
// ScriptArguments), and collectors for the Trainer's log dicts and
// trainer_state.json.
#include <algorithm>

#include "schema/error.h"
#include "schema/preset_kinds.h"

namespace lorafarm::schema {
namespace {

using nlohmann::json;

std::string flag_text(const json& value) { return value.is_string() ? value.get<std::string>() : value.dump(); }

void set_flag(Flags& flags, const std::string& flag, const json& value) {
  const auto it = std::find_if(flags.begin(), flags.end(), [&](const auto& f) { return f.first == flag; });
  if (it == flags.end())
    flags.emplace_back(flag, value);
  else
    it->second = value;
}

bool has_flag(const Flags& flags, const std::string& flag) {
  return std::any_of(flags.begin(), flags.end(),
                     [&](const auto& f) { return f.first == flag && !f.second.is_null() && f.second != false; });
}

// fine_tune_type as TRL's ModelConfig flags.
void peft_flags(Flags& flags, const json& type) {
  const auto name = type.is_string() ? type.get<std::string>() : "";
  if (name == "full" || (name.size() > 2 && name.front() == '{')) {  // a placeholder: shown as it is
    if (name != "full") set_flag(flags, "--use_peft", type);
    return;
  }
  if (name != "lora" && name != "dora")
    throw SpecError("trial: fine_tune_type " + type.dump() + " is not allowed; allowed: lora, dora, full");
  set_flag(flags, "--use_peft", true);
  if (name == "dora") set_flag(flags, "--use_dora", true);
}

// Python dict reprs the Trainer prints, e.g. {'loss': 2.5803, 'epoch': 0.25}
// (numpy scalars print as np.float64(2.5803)).
json dict_entry(const std::string& key, const std::string& metric) {
  return {{"source", "stdout"},
          {"regex", "'" + key + "': (?:np\\.float(?:32|64)\\()?(?<" + metric + ">" + kNumber + ")"}};
}

}  // namespace

const std::map<std::string, ParamTarget>& hf_trainer_targets() {
  static const std::map<std::string, ParamTarget> targets = [] {
    std::map<std::string, ParamTarget> t;
    for (const char* name : {"learning_rate",
                             "per_device_train_batch_size",
                             "per_device_eval_batch_size",
                             "gradient_accumulation_steps",
                             "max_steps",
                             "num_train_epochs",
                             "warmup_steps",
                             "warmup_ratio",
                             "weight_decay",
                             "lr_scheduler_type",
                             "seed",
                             "logging_steps",
                             "eval_steps",
                             "save_steps",
                             "save_total_limit",
                             "max_grad_norm",
                             "optim",
                             "gradient_checkpointing",
                             "bf16",
                             "fp16",
                             "max_length",
                             "model_name_or_path",
                             "dataset_name",
                             "use_peft",
                             "lora_r",
                             "lora_alpha",
                             "lora_dropout",
                             "lora_target_modules",
                             "use_rslora",
                             "use_dora",
                             "load_in_4bit",
                             "load_in_8bit"})
      t[name] = {std::string("--") + name};
    // lorafarm's names (the engine's and the mlx_lm preset's) for the same
    // settings.
    t["model"] = {"--model_name_or_path"};
    t["data"] = {"--dataset_name"};
    t["rank"] = {"--lora_r"};
    t["alpha"] = {"--lora_alpha"};
    t["scale"] = {"--lora_alpha", Conversion::ScaleTimesRank};
    t["dropout"] = {"--lora_dropout"};
    t["batch_size"] = {"--per_device_train_batch_size"};
    t["iters"] = {"--max_steps"};
    t["fine_tune_type"] = {"--use_peft", Conversion::PeftFlags};
    return t;
  }();
  return targets;
}

json hf_trainer_metrics() {
  json collectors = json::array();
  // Checkpoints (and save_state) write the whole log history, each entry with
  // its step.
  collectors.push_back(
      {{"source", "file"},
       {"path", "artifacts/output/{checkpoint-*/,}trainer_state.json"},
       {"records", "log_history"},
       {"rename", {{"eval_loss", "val_loss"}, {"loss", "train_loss"}, {"train_loss", "mean_train_loss"}}}});
  collectors.push_back(dict_entry("eval_loss", "val_loss"));
  collectors.push_back(dict_entry("loss", "train_loss"));
  collectors.push_back(dict_entry("train_loss", "mean_train_loss"));
  collectors.push_back(dict_entry("train_runtime", "train_runtime"));
  return {{"collectors", collectors}, {"final", json::object()}};
}

std::vector<std::string> flag_arguments(Flags generated, const Flags& user, const Substitute& substitute) {
  for (const auto& [flag, value] : user) set_flag(generated, flag, substituted(value, substitute));
  std::vector<std::string> argv;
  for (const auto& [flag, value] : generated) {
    if (value.is_null() || value == false) continue;
    argv.push_back(flag);
    if (value == true) continue;
    if (!value.is_array())
      argv.push_back(flag_text(value));
    else
      for (const auto& item : value) argv.push_back(flag_text(item));
  }
  return argv;
}

PresetRun expand_hf_trainer(const TrialPreset& preset, const json& values, const Substitute& substitute) {
  Flags flags{{"--output_dir", values.at("trial_dir").get<std::string>() + "/artifacts/output"}};  // recorded, and fetched home
  if (!preset.model.empty()) flags.emplace_back("--model_name_or_path", preset.model);
  if (!preset.data.empty()) flags.emplace_back("--dataset_name", preset.data);
  if (values.contains("seed")) flags.emplace_back("--seed", values["seed"]);
  for (const auto& [name, target] : preset.targets) {
    if (target.to.empty()) continue;
    const auto value = target_value(name, target, values);
    if (!value) continue;
    if (target.conversion == Conversion::PeftFlags)
      peft_flags(flags, *value);
    else
      set_flag(flags, target.to, *value);
  }
  // Evaluation every eval_steps needs the steps strategy (the default is "no").
  if (has_flag(flags, "--eval_steps")) set_flag(flags, "--eval_strategy", "steps");
  PresetRun run;
  for (const auto& arg : preset.program) run.argv.push_back(substitute(arg));
  for (auto& arg : flag_arguments(std::move(flags), preset.flags, substitute)) run.argv.push_back(std::move(arg));
  return run;
}

}  // namespace lorafarm::schema
