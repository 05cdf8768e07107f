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

// Defaults of the transformers config classes (LlamaConfig, MistralConfig,
// ...). Several default num_key_value_heads to a number when the field is
// absent (null means num_attention_heads).
const std::array<FamilyDefaults, 8> kFamilies = {{
    {"llama", 1e-6, 2048, std::nullopt, false, 10000.0, std::nullopt},
    {"mistral", 1e-6, 4096 * 32, 8, false, 10000.0, std::nullopt},
    {"qwen2", 1e-6, 32768, 32, false, 10000.0, std::nullopt},
    {"phi3", 1e-5, 4096, std::nullopt, false, 10000.0, std::nullopt},
    {"qwen3", 1e-6, 32768, 32, false, 10000.0, 128},
    {"smollm3", 1e-6, 32768, 4, true, 2000000.0, std::nullopt},
    {"gemma2", 1e-6, 8192, 4, true, 10000.0, 256},
    {"gemma3_text", 1e-6, 131072, 4, true, 1000000.0, 256},
}};

// `sliding_window`: `absent` when the field is missing, 0 when null.
int window_field(const json& j, int absent) {
  if (!j.contains("sliding_window")) return absent;
  if (j["sliding_window"].is_null()) return 0;
  return required_config_int(j, "sliding_window");
}

}  // namespace

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

namespace {

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

// SmolLM3's no_rope_layers (1 = the layer uses RoPE), by default every layer
// but each no_rope_layer_interval-th.
std::vector<bool> smollm3_rope_layers(const json& j, int layers) {
  std::vector<bool> rotates(static_cast<std::size_t>(layers), true);
  if (!has_config_field(j, "no_rope_layers")) {
    const int interval = has_config_field(j, "no_rope_layer_interval") ? required_config_int(j, "no_rope_layer_interval") : 4;
    for (int i = 0; i < layers; ++i) rotates[static_cast<std::size_t>(i)] = (i + 1) % interval != 0;
    return rotates;
  }
  const json& flags = j["no_rope_layers"];
  if (!flags.is_array() || flags.size() < static_cast<std::size_t>(layers)) {
    config_field_error("no_rope_layers", "must be a list of at least num_hidden_layers (" + std::to_string(layers) +
                                             ") entries of 0 or 1");
  }
  for (int i = 0; i < layers; ++i) {
    const json& flag = flags[static_cast<std::size_t>(i)];
    if (flag != 0 && flag != 1) {
      config_field_error("no_rope_layers", "has " + flag.dump() + " at index " + std::to_string(i) + "; use 0 or 1");
    }
    rotates[static_cast<std::size_t>(i)] = flag == 1;
  }
  return rotates;
}

// SmolLM3: layer_types when given, else the layers without RoPE slide when a window applies.
std::vector<bool> smollm3_sliding_layers(const json& j, int window, int layers) {
  if (has_config_field(j, "layer_types")) return listed_sliding_layers(j, window, layers);
  std::vector<bool> slides = smollm3_rope_layers(j, layers);
  for (std::size_t i = 0; i < slides.size(); ++i) slides[i] = window > 0 && !slides[i];
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

std::string supported_model_types() {
  std::string names;
  for (const FamilyDefaults& family : kFamilies) names += (names.empty() ? "" : ", ") + std::string(family.model_type);
  return names;
}

const FamilyDefaults& family_defaults(std::string_view model_type) {
  for (const FamilyDefaults& family : kFamilies) {
    if (family.model_type == model_type) return family;
  }
  config_field_error("model_type", "is '" + std::string(model_type) + "'; supported: " + supported_model_types());
}

void parse_attention_windows(const json& j, ModelConfig& c) {
  c.sliding_window = 0;
  c.sliding_layers.clear();
  if (c.model_type == "mistral") c.sliding_window = window_field(j, 4096);
  if (c.model_type == "phi3") c.sliding_window = window_field(j, 0);
  if (is_gemma(c.model_type)) return parse_gemma_windows(j, c);
  std::vector<bool> slides;
  int window = 0;
  if (c.model_type == "qwen2" || c.model_type == "qwen3") {
    window = config_bool(j, "use_sliding_window", false) ? window_field(j, 4096) : 0;
    slides = qwen2_sliding_layers(j, window, c.num_layers);
  } else if (c.model_type == "smollm3") {
    window = config_bool(j, "use_sliding_window", false) ? window_field(j, 0) : 0;
    slides = smollm3_sliding_layers(j, window, c.num_layers);
  } else {
    return;  // llama: LlamaConfig has no window; transformers ignores the field
  }
  const auto sliding = std::count(slides.begin(), slides.end(), true);
  if (sliding == 0) return;
  c.sliding_window = window;
  if (sliding < static_cast<std::ptrdiff_t>(slides.size())) c.sliding_layers = std::move(slides);
}

void parse_family_features(const json& j, ModelConfig& c) {
  c.qk_norm = c.model_type == "qwen3";
  if (c.model_type == "smollm3") {
    c.rope_layers = smollm3_rope_layers(j, c.num_layers);
    if (std::find(c.rope_layers.begin(), c.rope_layers.end(), false) == c.rope_layers.end()) c.rope_layers.clear();
  }
  if (is_gemma(c.model_type)) parse_gemma_features(j, c);
}

void reject_unimplemented_fields(const json& j, std::string_view model_type) {
  if (is_gemma(model_type)) {
    reject_unimplemented_gemma_fields(j);
  } else if (has_config_field(j, "hidden_act") && j["hidden_act"] != "silu") {
    const json& act = j["hidden_act"];
    config_field_error("hidden_act", "is " + (act.is_string() ? "'" + act.get<std::string>() + "'" : act.dump()) +
                                         "; supported: silu");
  }
  reject_nonzero_dropout(j, "attention_dropout");
  if (model_type == "phi3") {
    reject_nonzero_dropout(j, "resid_pdrop");
    reject_nonzero_dropout(j, "embd_pdrop");
  }
  if (model_type == "llama" || model_type == "smollm3") reject_true(j, "mlp_bias", "lorafarm's MLP projections have no biases");
  if (model_type != "qwen2" && model_type != "mistral" && model_type != "phi3") {
    reject_true(j, "attention_bias", "the model then puts biases on q, k, v and o_proj, and lorafarm has no o_proj bias");
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
