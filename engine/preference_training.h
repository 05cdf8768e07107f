// DPO training (Rafailov et al., 2023): the frozen reference model, one
// micro-batch's loss and exact gradient through the policy, the validation
// metrics, and the objective the training loop runs for train_mode "dpo".
//
// The gradient: with log π(y|x) = −Σ_t CE_t over a completion's tokens,
// ∂L/∂θ = Σ_pairs ∂L/∂log π(y_c) · ∂log π(y_c)/∂θ + (the same for y_r), so one
// forward pass gives every pair's ∂L/∂log π (engine/dpo_loss.h) and one
// forward-backward with those as signed per-token weights gives ∂L/∂θ.
#pragma once

#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "engine/dpo_loss.h"
#include "engine/preference_data.h"
#include "engine/training_objective.h"

namespace lorafarm::engine {

// The reference π_ref: the policy with its adapters off (LoRA, DoRA, QLoRA:
// no second copy), or, for full fine-tuning, a frozen copy of the base loaded
// from the model folder.
class ReferenceModel {
 public:
  ReferenceModel(TrainableModel& policy, const TrainConfig& config);
  // Σ weight·log p of each row of `batch`.
  std::vector<double> sequence_log_probs(const TrainBatch& batch);
  // Bytes held for the reference (the frozen copy; 0 with adapters off).
  int64_t bytes() const { return bytes_; }

 private:
  TrainableModel& policy_;
  std::unique_ptr<TrainableModel> copy_;
  int64_t bytes_ = 0;
};

// Every pair's reference log-probabilities (chosen, rejected), computed the
// first time the pair is met and kept: π_ref never changes.
class ReferenceCache {
 public:
  ReferenceCache(ReferenceModel& reference, std::size_t pairs) : reference_(reference), values_(pairs) {}
  std::vector<std::pair<double, double>> get(std::span<const std::size_t> indices, const TrainBatch& batch);

 private:
  ReferenceModel& reference_;
  std::vector<std::optional<std::pair<double, double>>> values_;
};

// Sums of one micro-batch.
struct PreferenceStepPart {
  double loss_sum = 0;  // Σ over its pairs
  int64_t pairs = 0;
  int64_t tokens = 0;  // completion tokens of both rows
};

// Adds grad_scale·∂(Σ_pairs L)/∂θ to the policy's gradients.
PreferenceStepPart dpo_forward_backward(TrainableModel& policy, const TrainBatch& pair_batch,
                                        std::span<const std::pair<double, double>> reference,
                                        const DpoOptions& options, float grad_scale, bool grad_checkpoint,
                                        uint64_t dropout_seed);

// The pairs' log-probabilities (IPO: per-token means) for the loss, policy
// from `policy_row_losses` (Σ weight·CE per row), reference as given.
std::vector<PairLogProbs> pair_log_probs(const TrainBatch& pair_batch, std::span<const double> policy_row_losses,
                                         std::span<const std::pair<double, double>> reference,
                                         const DpoOptions& options);

// The metrics over the first `max_batches` length-sorted batches (< 0 = all).
DpoMetrics evaluate_preferences(const TrainableModel& policy, ReferenceCache& reference,
                                const std::vector<PreferencePair>& pairs, const DpoOptions& options, int batch_size,
                                int max_batches);

// DPO as the training loop's objective: loads the config's preference splits
// and the reference for `policy`.
std::unique_ptr<TrainingObjective> make_preference_objective(const TrainConfig& config, TrainableModel& policy);

}  // namespace lorafarm::engine
