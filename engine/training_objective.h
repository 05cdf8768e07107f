// What one training run minimises, behind the one loop of engine/trainer.cpp:
// the next-token loss (train_mode "sft", engine/next_token_objective.h) or a
// preference loss (train_mode "dpo", engine/preference_training.h). The loop
// owns the steps, the optimizer, reports and checkpoints; an objective owns
// its data, its micro-batch gradient and its evaluations.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "engine/batch_order.h"
#include "engine/optimizer.h"
#include "engine/trainer.h"

namespace lorafarm::engine {

// Sums over one micro-batch.
struct MicroBatchSums {
  double loss_sum = 0;     // the loss summed over `loss_terms`
  int64_t loss_terms = 0;  // target tokens (sft) or pairs (dpo): a step's loss is Σ loss_sum / Σ loss_terms
  int64_t tokens = 0;      // tokens that carried loss (the speed's numerator)
};

// An objective reads the TrainConfig it was made with whenever it batches, so
// the caller may settle the batch size (batch_size auto, engine/batch_sizing.h)
// after construction, before the first batch_order() or evaluation.
class TrainingObjective {
 public:
  virtual ~TrainingObjective() = default;

  // The order the training items are taken in (made at the first call);
  // checkpoints save its position.
  virtual BatchOrder& batch_order() = 0;
  // Tokens in the longest training row (the length memory is predicted for).
  virtual int longest_sequence() const = 0;
  // Adds ∂(the micro-batch's mean loss)/∂θ ÷ accumulation to the gradients.
  virtual MicroBatchSums forward_backward(std::span<const std::size_t> items, int accumulation,
                                          uint64_t dropout_seed) = 0;
  // The validation reported at `step`, over the first max_batches batches (< 0: all).
  virtual EvalReport validate(int64_t step, int max_batches) = 0;
  // Whether the curve starts with a validation before the first step.
  virtual bool validates_before_training() const = 0;
  // The loss's name in messages ("loss", "DPO loss").
  virtual std::string_view loss_name() const = 0;
  // After the last step: the final validation and test scores and the memory
  // tally, into `result`.
  virtual void finish(TrainResult& result, const AdamW& optimizer) = 0;
};

}  // namespace lorafarm::engine
