// DPO: reference log-probabilities, the per-micro-batch loss and gradient, evaluation, the loop.
#include "engine/preference_training.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "engine/adapter_io.h"
#include "engine/error.h"
#include "engine/model_config.h"
#include "engine/tokenizer.h"

namespace lorafarm::engine {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The dropout seed of micro-batch `micro` of optimizer step `step`.
uint64_t micro_seed(uint64_t seed, int64_t step, int micro) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(step) * 0xBF58476D1CE4E5B9ull + micro;
  return x ^ (x >> 29);
}

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

struct PreferenceSplits {
  std::vector<PreferencePair> train, valid, test;
  bool has_test = false;
};

PreferenceSplits load_preference_splits(const TrainConfig& config) {
  const ModelConfig model_config = ModelConfig::load(config.model);
  const auto tokenizer = load_tokenizer(config.model);
  DataOptions data;
  data.max_seq_length = std::min(config.max_seq_length, model_config.max_position_embeddings);
  data.add_eos = config.add_eos;
  PreferenceSplits s;
  s.train = load_preference_split(config.data, "train", *tokenizer, data);
  s.valid = load_preference_split(config.data, "valid", *tokenizer, data);
  s.has_test = config.test && std::filesystem::exists(std::filesystem::path(config.data) / "test.jsonl");
  if (s.has_test) s.test = load_preference_split(config.data, "test", *tokenizer, data);
  return s;
}

}  // namespace

namespace {

// The optimizer steps of a DPO run, with the reports, evaluations and
// checkpoints due along the way (the preference twin of trainer.cpp's loop).
class PreferenceLoop {
 public:
  PreferenceLoop(const TrainConfig& config, const TrainCallbacks& callbacks, TrainableModel& tm,
                 const PreferenceSplits& splits, TrainResult& result)
      : config_(config),
        callbacks_(callbacks),
        tm_(tm),
        splits_(splits),
        result_(result),
        reference_(tm, config),
        train_reference_(reference_, splits.train.size()),
        valid_reference_(reference_, splits.valid.size()),
        optimizer_(tm.parameters(), config.optimizer),
        stream_(splits.train, config.batch_size, config.seed, config.batch_order == "shuffle"),
        schedule_(config.lr_schedule),
        format_(parse_adapter_format(config.adapter_format)),
        saved_config_(config.to_json()) {
    schedule_.peak = config.learning_rate;
  }

  void run() {
    // Step 0: the policy is the reference (every reward 0), the curves' starting point.
    if (callbacks_.on_eval) {
      const DpoMetrics m = validate(config_.val_batches);
      callbacks_.on_eval({0, m.loss, std::nan(""), {}, m});
    }
    for (int64_t step = 1; step <= config_.iters; ++step) {
      const auto started = Clock::now();
      const PreferenceStepPart part = optimizer_step(step);
      const double step_loss = part.loss_sum / static_cast<double>(part.pairs);
      if (!std::isfinite(step_loss)) {
        throw InvalidInput("training diverged: DPO loss is " + std::to_string(step_loss) + " at step " + std::to_string(step));
      }
      result_.step_losses.push_back(step_loss);
      const double seconds = seconds_since(started);
      train_seconds_ += seconds;
      window_.seconds += seconds;
      window_.loss_sum += part.loss_sum;
      window_.pairs += part.pairs;
      window_.tokens += part.tokens;
      result_.trained_tokens += part.tokens;
      if (callbacks_.on_step) callbacks_.on_step(step, config_.iters);
      if (step % config_.steps_per_report == 0 || step == config_.iters) report(step);
      if (step % config_.steps_per_eval == 0 && step != config_.iters) {
        const DpoMetrics m = validate(config_.val_batches);
        if (callbacks_.on_eval) callbacks_.on_eval({step, m.loss, std::nan(""), {}, m});
      }
      if (config_.save_every > 0 && step % config_.save_every == 0 && step != config_.iters) checkpoint(step);
    }
    save_adapter(config_.adapter_path, tm_, format_, saved_config_);
  }

  DpoMetrics validate(int max_batches) {
    return evaluate_preferences(tm_, valid_reference_, splits_.valid, config_.dpo, config_.batch_size, max_batches);
  }
  ReferenceModel& reference() { return reference_; }
  const AdamW& optimizer() const { return optimizer_; }
  double train_seconds() const { return train_seconds_; }

 private:
  struct Window {
    double loss_sum = 0, seconds = 0;
    int64_t pairs = 0, tokens = 0;
  };

  // One optimizer step over grad_accumulation_steps micro-batches of pairs:
  // the mean loss over each micro-batch's pairs, averaged over the micro-batches.
  PreferenceStepPart optimizer_step(int64_t step) {
    tm_.zero_grad();
    PreferenceStepPart total;
    const int accumulation = config_.grad_accumulation_steps;
    for (int a = 0; a < accumulation; ++a) {
      const std::vector<std::size_t> indices = stream_.next();
      const TrainBatch batch = make_pair_batch(splits_.train, indices);
      const auto reference = train_reference_.get(indices, batch);
      const float scale = 1.0f / (static_cast<float>(indices.size()) * static_cast<float>(accumulation));
      const PreferenceStepPart part = dpo_forward_backward(tm_, batch, reference, config_.dpo, scale,
                                                           config_.grad_checkpoint, micro_seed(config_.seed, step, a));
      total.loss_sum += part.loss_sum;
      total.pairs += part.pairs;
      total.tokens += part.tokens;
    }
    if (config_.max_grad_norm > 0) clip_grad_norm(tm_.parameters(), config_.max_grad_norm);
    learning_rate_ = schedule_.at(step - 1, config_.iters);
    optimizer_.step(tm_.parameters(), learning_rate_);
    return total;
  }

  // The mean DPO loss and the speed over the steps since the last report.
  void report(int64_t step) {
    StepReport r;
    r.step = step;
    r.train_loss = window_.loss_sum / static_cast<double>(window_.pairs);
    r.learning_rate = learning_rate_;
    r.tokens_per_second = static_cast<double>(window_.tokens) / window_.seconds;
    r.trained_tokens = result_.trained_tokens;
    r.peak_rss_mb = peak_rss_mb();
    if (callbacks_.on_report) callbacks_.on_report(r);
    window_ = Window();
  }

  // A numbered copy of the adapter, and the latest one under the usual name.
  void checkpoint(int64_t step) {
    char name[64];
    std::snprintf(name, sizeof name, "%07lld_%s", static_cast<long long>(step),
                  format_ == AdapterFormat::kMlx ? "adapters.safetensors" : "adapter_model.safetensors");
    save_adapter(config_.adapter_path, tm_, format_, saved_config_, name);
    save_adapter(config_.adapter_path, tm_, format_, saved_config_);
  }

  const TrainConfig& config_;
  const TrainCallbacks& callbacks_;
  TrainableModel& tm_;
  const PreferenceSplits& splits_;
  TrainResult& result_;
  ReferenceModel reference_;
  ReferenceCache train_reference_, valid_reference_;
  AdamW optimizer_;
  PairBatchStream stream_;
  LrSchedule schedule_;
  const AdapterFormat format_;
  const nlohmann::json saved_config_;
  Window window_;
  double learning_rate_ = 0;
  double train_seconds_ = 0;
};

int longest_sequence(const std::vector<PreferencePair>& pairs) {
  std::size_t n = 0;
  for (const PreferencePair& p : pairs) n = std::max({n, p.chosen.tokens.size(), p.rejected.tokens.size()});
  return static_cast<int>(n);
}

}  // namespace

TrainResult train_preferences(const TrainConfig& config, const TrainCallbacks& callbacks, TrainableModel& tm) {
  const PreferenceSplits splits = load_preference_splits(config);
  TrainResult result;
  PreferenceLoop loop(config, callbacks, tm, splits, result);
  result.trainable_params = tm.trainable_params();
  result.unquantized_layers = tm.unquantized_layers();
  loop.run();

  const DpoMetrics val = loop.validate(-1);
  result.val_preference = val;
  result.val_loss = val.loss;
  result.val_ppl = std::nan("");
  if (callbacks.on_eval) callbacks.on_eval({config.iters, val.loss, result.val_ppl, {}, val});
  if (splits.has_test) {
    ReferenceCache test_reference(loop.reference(), splits.test.size());
    const DpoMetrics test =
        evaluate_preferences(tm, test_reference, splits.test, config.dpo, config.batch_size, config.test_batches);
    result.test_preference = test;
    result.test_loss = test.loss;
  }
  result.train_seconds = loop.train_seconds();
  result.tokens_per_second = static_cast<double>(result.trained_tokens) / loop.train_seconds();
  result.peak_rss_mb = peak_rss_mb();
  result.memory = training_memory_tally(tm, loop.optimizer(), config, 2 * config.batch_size, longest_sequence(splits.train));
  result.memory.reference_model = loop.reference().bytes();
  return result;
}

}  // namespace lorafarm::engine
