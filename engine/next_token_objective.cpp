// The next-token objective: its splits, micro-batch gradient, validations and final scores.
#include "engine/next_token_objective.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "engine/data_splits.h"
#include "engine/dynamic_rank.h"
#include "engine/error.h"

namespace lorafarm::engine {
namespace {

using Splits = DataSplits<Sample>;

std::vector<std::size_t> sample_lengths(const std::vector<Sample>& samples) {
  std::vector<std::size_t> lengths;
  lengths.reserve(samples.size());
  for (const Sample& s : samples) lengths.push_back(s.tokens.size());
  return lengths;
}

class NextTokenObjective final : public TrainingObjective {
 public:
  NextTokenObjective(const TrainConfig& config, TrainableModel& model)
      : config_(config),
        model_(model),
        splits_(load_data_splits<Sample>(config, load_split)),
        // Nested ranks: the ladder scored at each validation (empty = plain adapter).
        ladder_(config.adapter.dynamic_rank ? rank_ladder(model.config()) : std::vector<int>{}) {}

  BatchOrder& batch_order() override {
    if (!order_) {
      order_.emplace(sample_lengths(splits_.train), config_.batch_size, config_.seed,
                     BatchOrder::kind_named(config_.batch_order), "samples");
    }
    return *order_;
  }

  int longest_sequence() const override {
    std::size_t longest = 1;
    for (const Sample& s : splits_.train) longest = std::max(longest, s.tokens.size());
    return static_cast<int>(longest);
  }

  MicroBatchSums forward_backward(std::span<const std::size_t> items, int accumulation, uint64_t dropout_seed) override {
    const TrainBatch batch = make_batch(splits_.train, items);
    const int64_t tokens = batch.loss_tokens();
    if (tokens == 0) throw InvalidInput("a training batch has no target tokens (all masked)");
    // Mean over each micro-batch's tokens, averaged over the micro-batches (as mlx-lm).
    const float scale = 1.0f / (static_cast<float>(tokens) * static_cast<float>(accumulation));
    const auto loss = model_.forward_backward(batch, scale, config_.grad_checkpoint, dropout_seed);
    return {loss.sum, tokens, tokens};
  }

  EvalReport validate(int64_t step, int max_batches) override {
    const LadderLoss v = evaluate_ladder(model_, ladder_, splits_.valid, config_.batch_size, max_batches);
    return {step, v.full.loss, std::exp(v.full.loss), v.ranks, {}};
  }

  bool validates_before_training() const override { return false; }
  std::string_view loss_name() const override { return "loss"; }

  void finish(TrainResult& result, const AdamW& optimizer) override {
    const LadderLoss v = evaluate_ladder(model_, ladder_, splits_.valid, config_.batch_size, -1);
    result.val_loss = v.full.loss;
    result.val_ppl = std::exp(v.full.loss);
    result.val_ranks = v.ranks;
    if (splits_.has_test) {
      const LadderLoss t = evaluate_ladder(model_, ladder_, splits_.test, config_.batch_size, config_.test_batches);
      result.test_loss = t.full.loss;
      result.test_ppl = std::exp(t.full.loss);
      result.test_ranks = t.ranks;
    }
    result.memory = training_memory_tally(model_, optimizer, config_, config_.batch_size, longest_sequence());
  }

 private:
  const TrainConfig& config_;
  TrainableModel& model_;
  const Splits splits_;
  std::optional<BatchOrder> order_;  // made at first use, with the batch size settled by then
  const std::vector<int> ladder_;
};

}  // namespace

std::unique_ptr<TrainingObjective> make_next_token_objective(const TrainConfig& config, TrainableModel& model) {
  return std::make_unique<NextTokenObjective>(config, model);
}

}  // namespace lorafarm::engine
