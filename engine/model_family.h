// What differs between the supported architectures as transformers' config
// classes define them: defaults, which layers use sliding-window attention,
// and the fields that change the computation but lorafarm does not implement.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/model_config.h"

namespace lorafarm::engine {

// A config class's defaults for fields absent from config.json.
struct FamilyDefaults {
  std::string_view model_type;
  double rms_norm_eps;
  int max_position_embeddings;
  std::optional<int> num_kv_heads;  // nullopt: num_attention_heads
  bool tie_word_embeddings;
  double rope_theta;
  std::optional<int> head_dim;  // nullopt: hidden_size / num_attention_heads
};

// InvalidInput listing the supported model types for any other.
const FamilyDefaults& family_defaults(std::string_view model_type);

// sliding_window and sliding_layers, per family (see docs/models.md).
void parse_attention_windows(const nlohmann::json& config, ModelConfig& c);

// The switches of ModelConfig that set a family apart from Llama: q/k norms,
// norm form, activation, embedding scale, attention scale and soft-capping,
// layers without RoPE, the local RoPE base. Needs the windows parsed first.
void parse_family_features(const nlohmann::json& config, ModelConfig& c);

// The supported model types, comma-separated (for messages).
std::string supported_model_types();

// `layer_types` (which transformers >= 4.53 writes): true for each
// sliding_attention layer; InvalidInput for a bad list, or for sliding layers
// when `window` is 0.
std::vector<bool> listed_sliding_layers(const nlohmann::json& config, int window, int layers);

// gemma2, gemma3_text (engine/gemma_family.cpp): their windows and features.
void parse_gemma_windows(const nlohmann::json& config, ModelConfig& c);
void parse_gemma_features(const nlohmann::json& config, ModelConfig& c);
void reject_unimplemented_gemma_fields(const nlohmann::json& config);
bool is_gemma(std::string_view model_type);

// InvalidInput naming the first field that would change the computation in
// transformers but that lorafarm does not implement (a non-zero dropout,
// mlp_bias, Llama's attention_bias, a foreign quantization_config).
void reject_unimplemented_fields(const nlohmann::json& config, std::string_view model_type);

}  // namespace lorafarm::engine
