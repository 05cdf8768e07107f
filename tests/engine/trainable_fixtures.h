// Shared fixtures of the trainable-model gradient tests: a tiny model whose
// loss is not flat, a two-sequence batch with padding and a masked prompt
// position, adapters with non-trivial B (and DoRA m), the mean loss.
#pragma once

#include <cstdint>

#include "engine/gradient_check.h"
#include "engine/model_config.h"
#include "engine/trainable_model.h"

namespace lorafarm::engine::testing_support {

// The random `tiny` preset with embedding and linears scaled ×15, so that
// losses and log-probabilities vary visibly with every weight.
inline Model sharpened_tiny_model(uint64_t seed = 11) {
  Model m = Model::random(preset_config("tiny"), seed);
  m.embed_tokens *= 15.0f;
  for (DecoderBlock& b : m.blocks) {
    for (Linear* l : {&b.q_proj, &b.k_proj, &b.v_proj, &b.o_proj, &b.gate_proj, &b.up_proj, &b.down_proj}) {
      l->weight *= 15.0f;
    }
  }
  return m;
}

// Two sequences (7 and 4 inputs) with padding and a masked prompt position.
inline TrainBatch tiny_batch() {
  TrainBatch b;
  b.batch = 2;
  b.length = 7;
  b.inputs = {1, 5, 9, 33, 2, 17, 40, 1, 60, 3, 8, 0, 0, 0};
  b.targets = {5, 9, 33, 2, 17, 40, 12, 60, 3, 8, 21, 0, 0, 0};
  b.weights = {0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0};
  return b;
}

// Gives every B (and DoRA m) non-trivial values, so every gradient and every
// rank dimension matters. Seeds run from seed + 1.
inline void perturb_adapters(TrainableModel& tm, uint64_t seed) {
  for (int block = 0; block < tm.model().config.num_layers; ++block) {
    for (int m = 0; m < 7; ++m) {
      AdaptedLinear& l = tm.layer(block, static_cast<Module>(m));
      if (!l.has_adapter()) continue;
      // Assign through an expression: a moved-in matrix would swap buffers under the ParamRefs.
      l.lora_b().array() = random_matrix(l.lora_b().rows(), l.lora_b().cols(), 0.3f, ++seed).array();
      if (l.is_dora()) l.magnitude() += random_matrix(l.magnitude().size(), 1, 0.1f, ++seed);
    }
  }
}

inline double mean_loss(const TrainableModel& tm, const TrainBatch& batch) {
  const auto l = tm.loss(batch);
  return l.sum / static_cast<double>(l.tokens);
}

}  // namespace lorafarm::engine::testing_support
