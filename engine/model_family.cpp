// The per-family table of transformers' config semantics (docs/models.md).
#include "engine/model_family.h"

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "engine/config_fields.h"
#include "engine/error.h"

namespace lorafarm::engine {
namespace {

using nlohmann::json;

// Defaults of LlamaConfig, MistralConfig, Qwen2Config and Phi3Config. Mistral
// and Qwen2 default num_key_value_heads to 8 and 32 when the field is absent
// (null means num_attention_heads).
const std::array<FamilyDefaults, 4> kFamilies = {{
    {"llama", 1e-6, 2048, std::nullopt, false},
    {"mistral", 1e-6, 4096 * 32, 8, false},
    {"qwen2", 1e-6, 32768, 32, false},
    {"phi3", 1e-5, 4096, std::nullopt, false},
}};

// `sliding_window`: `absent` when the field is missing, 0 when null.
int window_field(const json& j, int absent) {
  if (!j.contains("sliding_window")) return absent;
  if (j["sliding_window"].is_null()) return 0;
  return required_config_int(j, "sliding_window");
}

// Qwen2's layer_types, when config.json spells them out (transformers >= 4.53 writes them).
std::vector<bool> listed_sliding_layers(const json& j, int window, int layers) {
  const json& types = j["layer_types"];
  if (!types.is_array() || types.size() != static_cast<std::size_t>(layers)) {
    config_field_error("layer_types", "must be a list of num_hidden_layers (" + std::to_string(layers) + ") entries");
  }
  std::vector<bool> slides(static_cast<std::size_t>(layers), false);
  for (int i = 0; i < layers; ++i) {
    const json& type = types[static_cast<std::size_t>(i)];
    if (type == "sliding_attention")
      slides[static_cast<std::size_t>(i)] = true;
    else if (type != "full_attention") {
      config_field_error("layer_types", "has " + type.dump() + " at index " + std::to_string(i) +
                                            "; supported: full_attention, sliding_attention");
    }
  }
  if (window == 0 && std::find(slides.begin(), slides.end(), true) != slides.end()) {
    config_field_error("layer_types",
                       "marks sliding_attention layers but no window applies "
                       "(use_sliding_window is false or sliding_window is null)");
  }
  return slides;
}

// Qwen2: the window applies only when use_sliding_window is true, and only to
// the layers layer_types marks (by default those from max_window_layers on).
std::vector<bool> qwen2_sliding_layers(const json& j, int window, int layers) {
  if (has_config_field(j, "layer_types")) return listed_sliding_layers(j, window, layers);
  std::vector<bool> slides(static_cast<std::size_t>(layers), false);
  if (window == 0) return slides;
  int first = 28;
  if (has_config_field(j, "max_window_layers")) {
    const json& value = j["max_window_layers"];
    if (!value.is_number_integer() || value.get<int64_t>() < 0) {
      config_field_error("max_window_layers", "must be a non-negative integer, got " + value.dump());
    }
    first = static_cast<int>(std::min<int64_t>(value.get<int64_t>(), layers));
  }
  std::fill(slides.begin() + first, slides.end(), true);
  return slides;
}

void reject_nonzero_dropout(const json& j, const char* field) {
  if (config_number(j, field, 0.0) == 0.0) return;
  config_field_error(field, "is " + j[field].dump() +
                                "; lorafarm does not apply the base model's dropout (set it to 0.0; the "
                                "adapter's own dropout is a sweep parameter)");
}

void reject_true(const json& j, const char* field, const std::string& why) {
  if (config_bool(j, field, false)) config_field_error(field, "is true; " + why);
}

}  // namespace

const FamilyDefaults& family_defaults(std::string_view model_type) {
  for (const FamilyDefaults& family : kFamilies) {
    if (family.model_type == model_type) return family;
  }
  config_field_error("model_type", "is '" + std::string(model_type) + "'; supported: llama, mistral, qwen2, phi3");
}

void parse_attention_windows(const json& j, ModelConfig& c) {
  c.sliding_window = 0;
  c.sliding_layers.clear();
  if (c.model_type == "mistral") c.sliding_window = window_field(j, 4096);
  if (c.model_type == "phi3") c.sliding_window = window_field(j, 0);
  if (c.model_type != "qwen2") return;  // llama: LlamaConfig has no window; transformers ignores the field
  const int window = config_bool(j, "use_sliding_window", false) ? window_field(j, 4096) : 0;
  std::vector<bool> slides = qwen2_sliding_layers(j, window, c.num_layers);
  const auto sliding = std::count(slides.begin(), slides.end(), true);
  if (sliding == 0) return;
  c.sliding_window = window;
  if (sliding < static_cast<std::ptrdiff_t>(slides.size())) c.sliding_layers = std::move(slides);
}

void reject_unimplemented_fields(const json& j, std::string_view model_type) {
  if (has_config_field(j, "hidden_act") && j["hidden_act"] != "silu") {
    const json& act = j["hidden_act"];
    config_field_error("hidden_act", "is " + (act.is_string() ? "'" + act.get<std::string>() + "'" : act.dump()) +
                                         "; supported: silu");
  }
  reject_nonzero_dropout(j, "attention_dropout");
  if (model_type == "phi3") {
    reject_nonzero_dropout(j, "resid_pdrop");
    reject_nonzero_dropout(j, "embd_pdrop");
  }
  if (model_type == "llama") {
    reject_true(j, "mlp_bias", "lorafarm's MLP projections have no biases");
    reject_true(j, "attention_bias", "Llama then puts biases on q, k, v and o_proj, and lorafarm has no o_proj bias");
  }
  // mlx-lm (and `lorafarm quantize`) copy the `quantization` block here; anything else is a transformers quantizer.
  const bool mlx_copy = has_config_field(j, "quantization") && j.value("quantization_config", json()) == j["quantization"];
  if (has_config_field(j, "quantization_config") && !mlx_copy) {
    config_field_error("quantization_config",
                       "is set: transformers-quantized weights (bitsandbytes, GPTQ, AWQ, ...) "
                       "are not supported; use float weights or `lorafarm quantize`");
  }
}

}  // namespace lorafarm::engine
