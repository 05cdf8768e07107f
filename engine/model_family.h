// What differs between the supported architectures as transformers' config
// classes define them: defaults, which layers use sliding-window attention,
// and the fields that change the computation but lorafarm does not implement.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "engine/model_config.h"

namespace lorafarm::engine {

// A config class's defaults for fields absent from config.json.
struct FamilyDefaults {
  std::string_view model_type;
  double rms_norm_eps;
  int max_position_embeddings;
  std::optional<int> num_kv_heads;  // nullopt: num_attention_heads
  bool tie_word_embeddings;
};

// InvalidInput listing the supported model types for any other.
const FamilyDefaults& family_defaults(std::string_view model_type);

// sliding_window and sliding_layers, per family (see docs/models.md).
void parse_attention_windows(const nlohmann::json& config, ModelConfig& c);

// InvalidInput naming the first field that would change the computation in
// transformers but that lorafarm does not implement (a non-zero dropout,
// mlp_bias, Llama's attention_bias, a foreign quantization_config).
void reject_unimplemented_fields(const nlohmann::json& config, std::string_view model_type);

}  // namespace lorafarm::engine
