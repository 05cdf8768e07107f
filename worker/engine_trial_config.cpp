// Mapping flat sweep parameters onto the nested training config.
#include "worker/engine_trial_config.h"

#include <string>

namespace lorafarm::worker {

nlohmann::json engine_trial_config(const nlohmann::json& fixed, const nlohmann::json& params) {
  nlohmann::json config = fixed.is_object() ? fixed : nlohmann::json::object();
  for (const auto& [name, value] : params.items()) {
    if (name == "method" || name == "fine_tune_type") {
      config["fine_tune_type"] = value;
    } else if (name == "rank" || name == "scale" || name == "alpha" || name == "rslora" || name == "dropout" ||
               name == "keys") {
      config["lora_parameters"][name] = value;
    } else if (name == "bits" || name == "group_size") {
      config["quantization"][name] = value;
    } else if (name == "quant_mode") {
      config["quantization"]["mode"] = value;
    } else {
      config[name] = value;
    }
  }
  // Quantization settings only mean something for QLoRA; other methods ignore them.
  if (config.value("fine_tune_type", std::string()) != "qlora") config.erase("quantization");
  return config;
}

}  // namespace lorafarm::worker
