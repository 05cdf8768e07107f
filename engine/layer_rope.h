// Which RoPE each layer applies: the model's (rope_theta with rope_scaling),
// Gemma 3's local one on sliding layers, or none (SmolLM3's NoPE layers).
#pragma once

#include "engine/model_config.h"
#include "engine/ops.h"

namespace lorafarm::engine {

struct LayerRopes {
  RopeTable global;
  RopeTable local;  // filled only when config.rope_local_theta > 0

  // Null when the layer does not rotate q and k.
  const RopeTable* for_layer(const ModelConfig& config, int layer) const;
};

// Tables for positions 0 .. max_positions − 1.
LayerRopes make_layer_ropes(const ModelConfig& config, int max_positions);

}  // namespace lorafarm::engine
