// Text generation with a KV cache: greedy, or sampled with temperature and
// nucleus (top-p) filtering from a seeded generator.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "engine/model.h"
#include "engine/tokenizer.h"

namespace lorafarm::engine {

struct GenerateOptions {
  int max_tokens = 100;
  float temperature = 0.0f;  // 0 = greedy
  float top_p = 1.0f;
  uint64_t seed = 0;
  std::vector<TokenId> stop_ids;  // generation ends after emitting one of these (not included)
};

// Continues `prompt`; calls on_token for each new id as it is produced and
// returns all new ids. Throws InvalidInput when the prompt does not fit the
// model's context.
std::vector<TokenId> generate(const Model& model, std::span<const TokenId> prompt, const GenerateOptions& options,
                              const std::function<void(TokenId)>& on_token = {});

// Picks the next id from logits: argmax when temperature is 0, else a draw
// from softmax(logits / temperature) restricted to the smallest set of ids
// whose probability reaches top_p.
TokenId sample_token(std::span<const float> logits, float temperature, float top_p, uint64_t& rng_state);

}  // namespace lorafarm::engine
