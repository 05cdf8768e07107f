// Incremental decoding and sampling.
#include "engine/generate.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "engine/error.h"
#include "engine/forward.h"

namespace lorafarm::engine {

TokenId sample_token(std::span<const float> logits, float temperature, float top_p, uint64_t& rng_state) {
  if (temperature <= 0.0f) {
    return static_cast<TokenId>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  }
  const float max_logit = *std::max_element(logits.begin(), logits.end());
  std::vector<double> probs(logits.size());
  double sum = 0;
  for (std::size_t i = 0; i < logits.size(); ++i) {
    probs[i] = std::exp((static_cast<double>(logits[i]) - max_logit) / temperature);
    sum += probs[i];
  }
  std::vector<TokenId> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](TokenId a, TokenId b) { return probs[a] > probs[b]; });
  // Keep the most likely ids until their mass reaches top_p.
  std::size_t keep = 0;
  double mass = 0;
  while (keep < order.size() && (keep == 0 || mass < top_p * sum)) mass += probs[order[keep++]];

  std::mt19937_64 rng(rng_state);
  rng_state = rng();
  const double draw = std::uniform_real_distribution<double>(0.0, mass)(rng);
  double acc = 0;
  for (std::size_t i = 0; i < keep; ++i) {
    acc += probs[order[i]];
    if (draw < acc) return order[i];
  }
  return order[keep - 1];
}

std::vector<TokenId> generate(const Model& model, std::span<const TokenId> prompt, const GenerateOptions& options,
                              const std::function<void(TokenId)>& on_token) {
  const int context = model.config.max_position_embeddings;
  if (prompt.empty()) throw InvalidInput("the prompt is empty (no tokens)");
  if (static_cast<int>(prompt.size()) > context) {
    throw InvalidInput("the prompt has " + std::to_string(prompt.size()) + " tokens; the model's context is " +
                       std::to_string(context));
  }
  KvCache cache(model.config, context);
  uint64_t rng_state = options.seed;
  std::vector<TokenId> produced;
  Matrix logits = forward_incremental(model, prompt, cache);
  while (static_cast<int>(produced.size()) < options.max_tokens) {
    const TokenId next = sample_token(std::span<const float>(logits.data(), static_cast<std::size_t>(logits.cols())),
                                      options.temperature, options.top_p, rng_state);
    if (std::find(options.stop_ids.begin(), options.stop_ids.end(), next) != options.stop_ids.end()) break;
    produced.push_back(next);
    if (on_token) on_token(next);
    if (cache.size() >= context) break;  // the context is full
    const TokenId step[] = {next};
    logits = forward_incremental(model, step, cache);
  }
  return produced;
}

}  // namespace lorafarm::engine
