// DPO: reference log-probabilities, the per-micro-batch loss and gradient, evaluation, the objective.
#include "engine/preference_training.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "engine/data_splits.h"

namespace lorafarm::engine {
namespace {

// Tokens carrying loss in each row.
std::vector<int64_t> row_tokens(const TrainBatch& batch) {
  std::vector<int64_t> out(static_cast<std::size_t>(batch.batch), 0);
  for (std::size_t r = 0; r < batch.weights.size(); ++r) {
    if (batch.weights[r] != 0) ++out[r / static_cast<std::size_t>(batch.length)];
  }
  return out;
}

}  // namespace

ReferenceModel::ReferenceModel(TrainableModel& policy, const TrainConfig& config) : policy_(policy) {
  if (config.adapter.type != FineTuneType::kFull) return;
  // A rank-1 LoRA on one block with its adapter off: the base model exactly, frozen.
  AdapterConfig frozen;
  frozen.type = FineTuneType::kLora;
  frozen.rank = 1;
  frozen.num_layers = 1;
  copy_ = std::make_unique<TrainableModel>(load_trainable_model(config.model, frozen, config.seed));
  copy_->set_adapters_enabled(false);
  bytes_ = float_weight_bytes(copy_->model()) + copy_->trainable_params() * 4 * 2;  // adapter and its gradient
}

std::vector<double> ReferenceModel::sequence_log_probs(const TrainBatch& batch) {
  std::vector<double> losses;
  if (copy_) {
    losses = copy_->sequence_losses(batch, std::nullopt);
  } else {
    policy_.set_adapters_enabled(false);
    try {
      losses = policy_.sequence_losses(batch, std::nullopt);
    } catch (...) {
      policy_.set_adapters_enabled(true);
      throw;
    }
    policy_.set_adapters_enabled(true);
  }
  for (double& l : losses) l = -l;
  return losses;
}

std::vector<std::pair<double, double>> ReferenceCache::get(std::span<const std::size_t> indices, const TrainBatch& batch) {
  bool missing = false;
  for (std::size_t i : indices) missing = missing || !values_[i];
  if (missing) {
    const std::vector<double> lp = reference_.sequence_log_probs(batch);
    for (std::size_t k = 0; k < indices.size(); ++k) {
      if (!values_[indices[k]]) values_[indices[k]] = std::pair(lp[2 * k], lp[2 * k + 1]);
    }
  }
  std::vector<std::pair<double, double>> out;
  out.reserve(indices.size());
  for (std::size_t i : indices) out.push_back(*values_[i]);
  return out;
}

std::vector<PairLogProbs> pair_log_probs(const TrainBatch& pair_batch, std::span<const double> policy_row_losses,
                                         std::span<const std::pair<double, double>> reference,
                                         const DpoOptions& options) {
  const std::vector<int64_t> tokens = row_tokens(pair_batch);
  std::vector<PairLogProbs> out(reference.size());
  for (std::size_t k = 0; k < out.size(); ++k) {
    const double nc = options.averages_log_probs() ? static_cast<double>(tokens[2 * k]) : 1.0;
    const double nr = options.averages_log_probs() ? static_cast<double>(tokens[2 * k + 1]) : 1.0;
    out[k] = {-policy_row_losses[2 * k] / nc, -policy_row_losses[2 * k + 1] / nr, reference[k].first / nc,
              reference[k].second / nr};
  }
  return out;
}

PreferenceStepPart dpo_forward_backward(TrainableModel& policy, const TrainBatch& pair_batch,
                                        std::span<const std::pair<double, double>> reference,
                                        const DpoOptions& options, float grad_scale, bool grad_checkpoint,
                                        uint64_t dropout_seed) {
  const std::vector<double> row_losses = policy.sequence_losses(pair_batch, dropout_seed);
  const std::vector<PairLogProbs> lp = pair_log_probs(pair_batch, row_losses, reference, options);
  const std::vector<int64_t> tokens = row_tokens(pair_batch);
  PreferenceStepPart part;
  // Row weights: ∂L/∂CE_t = −∂L/∂log π / (tokens when averaged).
  std::vector<double> row_weight(row_losses.size());
  for (std::size_t k = 0; k < lp.size(); ++k) {
    const PairLoss l = dpo_pair_loss(lp[k], options);
    part.loss_sum += l.loss;
    const double nc = options.averages_log_probs() ? static_cast<double>(tokens[2 * k]) : 1.0;
    const double nr = options.averages_log_probs() ? static_cast<double>(tokens[2 * k + 1]) : 1.0;
    row_weight[2 * k] = -l.d_policy_chosen / nc;
    row_weight[2 * k + 1] = -l.d_policy_rejected / nr;
  }
  TrainBatch weighted = pair_batch;
  for (std::size_t r = 0; r < weighted.weights.size(); ++r) {
    weighted.weights[r] *= static_cast<float>(row_weight[r / static_cast<std::size_t>(weighted.length)]);
  }
  policy.forward_backward(weighted, grad_scale, grad_checkpoint, dropout_seed);
  part.pairs = static_cast<int64_t>(lp.size());
  for (int64_t t : tokens) part.tokens += t;
  return part;
}

DpoMetrics evaluate_preferences(const TrainableModel& policy, ReferenceCache& reference,
                                const std::vector<PreferencePair>& pairs, const DpoOptions& options, int batch_size,
                                int max_batches) {
  const auto batches = length_sorted_pair_batches(pairs, batch_size, true);
  DpoMetricsSum sum;
  for (std::size_t i = 0; i < batches.size(); ++i) {
    if (max_batches >= 0 && static_cast<int>(i) >= max_batches) break;
    const TrainBatch batch = make_pair_batch(pairs, batches[i]);
    const auto ref = reference.get(batches[i], batch);
    const auto row_losses = policy.sequence_losses(batch, std::nullopt);
    for (const PairLogProbs& lp : pair_log_probs(batch, row_losses, ref, options)) sum.add(lp, dpo_pair_loss(lp, options));
  }
  return sum.mean();
}

namespace {

using PreferenceSplits = DataSplits<PreferencePair>;

int longest_pair_sequence(const std::vector<PreferencePair>& pairs) {
  std::size_t n = 0;
  for (const PreferencePair& p : pairs) n = std::max({n, p.chosen.tokens.size(), p.rejected.tokens.size()});
  return static_cast<int>(n);
}

// DPO behind the training loop: pairs of completions, the reference's
// log-probabilities cached per pair, the DPO metrics as validation.
class PreferenceObjective final : public TrainingObjective {
 public:
  PreferenceObjective(const TrainConfig& config, TrainableModel& policy)
      : config_(config),
        policy_(policy),
        splits_(load_data_splits<PreferencePair>(config, load_preference_split)),
        reference_(policy, config),
        train_reference_(reference_, splits_.train.size()),
        valid_reference_(reference_, splits_.valid.size()) {}

  BatchOrder& batch_order() override {
    if (!order_) {
      order_.emplace(pair_lengths(splits_.train), config_.batch_size, config_.seed,
                     BatchOrder::kind_named(config_.batch_order), "preference pairs");
    }
    return *order_;
  }

  int longest_sequence() const override { return longest_pair_sequence(splits_.train); }

  // The mean loss over the micro-batch's pairs, averaged over the micro-batches.
  MicroBatchSums forward_backward(std::span<const std::size_t> items, int accumulation, uint64_t dropout_seed) override {
    const TrainBatch batch = make_pair_batch(splits_.train, items);
    const auto reference = train_reference_.get(items, batch);
    const float scale = 1.0f / (static_cast<float>(items.size()) * static_cast<float>(accumulation));
    const PreferenceStepPart part =
        dpo_forward_backward(policy_, batch, reference, config_.dpo, scale, config_.grad_checkpoint, dropout_seed);
    return {part.loss_sum, part.pairs, part.tokens};
  }

  EvalReport validate(int64_t step, int max_batches) override {
    const DpoMetrics m = evaluate_preferences(policy_, valid_reference_, splits_.valid, config_.dpo,
                                              config_.batch_size, max_batches);
    return {step, m.loss, std::nan(""), {}, m};
  }

  // Step 0: the policy is the reference (every reward 0), the curves' starting point.
  bool validates_before_training() const override { return true; }
  std::string_view loss_name() const override { return "DPO loss"; }

  void finish(TrainResult& result, const AdamW& optimizer) override {
    const DpoMetrics val = evaluate_preferences(policy_, valid_reference_, splits_.valid, config_.dpo,
                                                config_.batch_size, -1);
    result.val_preference = val;
    result.val_loss = val.loss;
    result.val_ppl = std::nan("");
    if (splits_.has_test) {
      ReferenceCache test_reference(reference_, splits_.test.size());
      const DpoMetrics test = evaluate_preferences(policy_, test_reference, splits_.test, config_.dpo,
                                                   config_.batch_size, config_.test_batches);
      result.test_preference = test;
      result.test_loss = test.loss;
    }
    result.memory =
        training_memory_tally(policy_, optimizer, config_, 2 * config_.batch_size, longest_sequence());
    result.memory.reference_model = reference_.bytes();
  }

 private:
  const TrainConfig& config_;
  TrainableModel& policy_;
  const PreferenceSplits splits_;
  ReferenceModel reference_;
  ReferenceCache train_reference_, valid_reference_;
  std::optional<BatchOrder> order_;  // made at first use, with the batch size settled by then
};

}  // namespace

std::unique_ptr<TrainingObjective> make_preference_objective(const TrainConfig& config, TrainableModel& policy) {
  return std::make_unique<PreferenceObjective>(config, policy);
}

}  // namespace lorafarm::engine
