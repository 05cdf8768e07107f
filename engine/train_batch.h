// One training or evaluation batch: right-padded input ids, the next-token
// targets and a per-position loss weight (0 on padding and masked prompts).
#pragma once

#include <cstdint>
#include <vector>

#include "engine/tokenizer.h"

namespace lorafarm::engine {

struct TrainBatch {
  int batch = 0;
  int length = 0;                // positions per sequence (inputs)
  std::vector<TokenId> inputs;   // (batch · length), row b·length + t
  std::vector<TokenId> targets;  // the token after each input
  std::vector<float> weights;    // 1 where the target carries loss, else 0

  int64_t loss_tokens() const {
    int64_t n = 0;
    for (float w : weights) n += w > 0 ? 1 : 0;
    return n;
  }
};

}  // namespace lorafarm::engine
