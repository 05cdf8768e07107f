// AdapterConfig: the fine-tuning method's name, the effective LoRA scale, and
// which linear modules the `keys` select.
#include <algorithm>
#include <cmath>
#include <string>

#include "engine/error.h"
#include "engine/trainable_model.h"

namespace lorafarm::engine {

FineTuneType parse_fine_tune_type(std::string_view name) {
  if (name == "lora" || name == "qlora") return FineTuneType::kLora;
  if (name == "dora") return FineTuneType::kDora;
  if (name == "full") return FineTuneType::kFull;
  throw InvalidInput("fine_tune_type '" + std::string(name) + "' is not one of lora, dora, qlora, full");
}

const char* fine_tune_type_name(FineTuneType type) {
  switch (type) {
    case FineTuneType::kLora: return "lora";
    case FineTuneType::kDora: return "dora";
    case FineTuneType::kFull: return "full";
  }
  return "?";
}

float AdapterConfig::effective_scale() const {
  if (!alpha) return scale;
  return rslora ? *alpha / std::sqrt(static_cast<float>(rank)) : *alpha / static_cast<float>(rank);
}

std::vector<Module> AdapterConfig::modules() const {
  std::vector<Module> out;
  if (keys.empty()) {
    for (int m = 0; m < 7; ++m) out.push_back(static_cast<Module>(m));
    return out;
  }
  for (const std::string& key : keys) {
    int found = -1;
    for (int m = 0; m < 7; ++m) {
      const std::string_view full = kLinearModules[m];
      if (key == full || key == full.substr(full.find('.') + 1)) found = m;
    }
    if (found < 0) {
      std::string known;
      for (const char* name : kLinearModules) known += std::string(known.empty() ? "" : ", ") + name;
      throw InvalidInput("unknown lora key '" + key + "'; known keys: " + known);
    }
    if (std::find(out.begin(), out.end(), found) == out.end()) out.push_back(static_cast<Module>(found));
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace lorafarm::engine
