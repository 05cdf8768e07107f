// RoPE settings from config.json in either spelling transformers reads:
// version 4's `rope_theta` + `rope_scaling`, or version 5's `rope_parameters`.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>

#include "engine/model_config.h"

namespace lorafarm::engine {

struct RopeSettings {
  double theta = 10000.0;
  RopeScaling scaling;
};

// As transformers 5 standardises them: `rope_scaling` (when set) wins over
// `rope_parameters`; a `rope_theta` inside the chosen object wins over the
// top-level one; the default base is the family's `default_theta`. A rope type or field lorafarm
// does not compute (dynamic, yarn, longrope, partial_rotary_factor != 1) is
// an InvalidInput naming it.
RopeSettings parse_rope(const nlohmann::json& config, double default_theta = 10000.0);

// transformers 5's per-layer-type form, which Gemma 3 configs use:
// rope_parameters {"full_attention": {...}, "sliding_attention": {...}}, each
// a rope object of its own (the sliding one unscaled). nullopt when the
// config does not use that form.
struct LayerTypeRope {
  RopeSettings full;
  double sliding_theta = 10000.0;
};
std::optional<LayerTypeRope> parse_layer_type_rope(const nlohmann::json& config, double default_full,
                                                   double default_sliding);

}  // namespace lorafarm::engine
