// The per-layer choice of RoPE table.
#include "engine/layer_rope.h"

namespace lorafarm::engine {

const RopeTable* LayerRopes::for_layer(const ModelConfig& config, int layer) const {
  if (!config.uses_rope(layer)) return nullptr;
  if (config.rope_local_theta > 0 && config.attention_window(layer) > 0) return &local;
  return &global;
}

LayerRopes make_layer_ropes(const ModelConfig& config, int max_positions) {
  LayerRopes ropes;
  ropes.global = make_rope_table(config, max_positions);
  if (config.rope_local_theta > 0) {
    ModelConfig local = config;  // transformers' local rotary embedding: the default rule, no scaling
    local.rope_theta = config.rope_local_theta;
    local.rope_scaling = RopeScaling{};
    ropes.local = make_rope_table(local, max_positions);
  }
  return ropes;
}

}  // namespace lorafarm::engine
