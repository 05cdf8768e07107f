// A model's architecture in words for `lorafarm info`: what sets its family
// apart from plain Llama (norms, activation, attention, RoPE per layer).
#pragma once

#include <string>
#include <vector>

#include "engine/model_config.h"

namespace lorafarm::engine {

// E.g. {"SwiGLU MLP", "RoPE theta 10000", "sliding window 4096 on 20 of 26 layers"}.
std::vector<std::string> architecture_features(const ModelConfig& config);

}  // namespace lorafarm::engine
