// Mapping flat sweep parameters onto the nested training config.
#include "worker/engine_trial_config.h"

#include <string>

namespace lorafarm::worker {

namespace {

// Puts one flat setting where the training config expects it.
void place(nlohmann::json& config, const std::string& name, const nlohmann::json& value) {
  if (name == "method" || name == "fine_tune_type") {
    config["fine_tune_type"] = value;
  } else if (name == "rank" || name == "scale" || name == "alpha" || name == "rslora" || name == "dropout" || name == "keys" ||
             name == "dynamic_rank") {
    config["lora_parameters"][name] = value;
  } else if (name == "bits" || name == "group_size") {
    config["quantization"][name] = value;
  } else if (name == "quant_mode") {
    config["quantization"]["mode"] = value;
  } else if (value.is_object() && config.contains(name) && config[name].is_object()) {
    config[name].update(value);  // merged key by key
  } else {
    config[name] = value;
  }
}

}  // namespace

nlohmann::json engine_trial_config(const nlohmann::json& fixed, const nlohmann::json& params) {
  nlohmann::json config = nlohmann::json::object();
  // Fixed settings may use the flat names too ("method": "lora").
  if (fixed.is_object())
    for (const auto& [name, value] : fixed.items()) place(config, name, value);
  for (const auto& [name, value] : params.items()) place(config, name, value);
  // Quantization settings only mean something for QLoRA; other methods ignore them.
  if (config.value("fine_tune_type", std::string()) != "qlora") config.erase("quantization");
  return config;
}

}  // namespace lorafarm::worker
