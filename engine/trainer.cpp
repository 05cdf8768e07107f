// The training loop: data and model preparation, the optimizer steps, the evaluations.
#include "engine/trainer.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>
#include <filesystem>

#include "engine/batch_sizing.h"
#include "engine/chat_format.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "engine/preference_training.h"
#include "engine/quantized_base.h"
#include "engine/tokenizer.h"
#include "engine/training_checkpoint.h"

namespace lorafarm::engine {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

uint64_t micro_seed(uint64_t seed, int64_t step, int micro) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(step) * 0xBF58476D1CE4E5B9ull + micro;
  return x ^ (x >> 29);
}

int64_t float_bytes(const Matrix& m) { return static_cast<int64_t>(m.size()) * 4; }
int64_t float_bytes(const Vector& v) { return static_cast<int64_t>(v.size()) * 4; }

}  // namespace

int64_t float_weight_bytes(const Model& m) {
  int64_t bytes = float_bytes(m.embed_tokens) + float_bytes(m.lm_head) + float_bytes(m.final_norm) +
                  m.embed_tokens_half.bytes() + m.lm_head_half.bytes();
  for (const DecoderBlock& b : m.blocks) {
    for (const auto& slot : block_norm_slots(m.config, b)) bytes += float_bytes(*slot.weight);
    for (const Linear* l : {&b.q_proj, &b.k_proj, &b.v_proj, &b.o_proj, &b.gate_proj, &b.up_proj, &b.down_proj}) {
      bytes += float_bytes(l->weight) + l->half.bytes() + float_bytes(l->bias);
    }
  }
  return bytes;
}

MemoryTally training_memory_tally(const TrainableModel& tm, const AdamW& opt, const TrainConfig& config,
                                  int micro_batch_rows, int seq_length) {
  const Model& m = tm.model();
  MemoryTally t;
  t.base_weights = float_weight_bytes(m);
  if (tm.config().quantization) {
    for (int block = 0; block < m.config.num_layers; ++block) {
      for (int mod = 0; mod < 7; ++mod) {
        const AdaptedLinear& l = tm.layer(block, static_cast<Module>(mod));
        if (l.quantized()) t.quantized_weights += quantized_base_bytes(*l.quantized_base());
      }
    }
  }
  const int64_t trainable = tm.trainable_params() * 4;
  if (config.adapter.type != FineTuneType::kFull) t.adapter_params = trainable;
  t.gradients = trainable;
  t.optimizer_state = opt.state_floats() * 4;
  TrainShape shape{micro_batch_rows, seq_length, config.grad_checkpoint, 4, config.precision};
  t.activations = estimate_training_memory(m.config, tm.config(), shape).activations;
  return t;
}

SplitLoss evaluate_loss(const TrainableModel& model, const std::vector<Sample>& samples, int batch_size,
                        int max_batches) {
  const auto batches = length_sorted_batches(samples, batch_size, true);
  double sum = 0;
  int64_t tokens = 0;
  for (std::size_t i = 0; i < batches.size(); ++i) {
    if (max_batches >= 0 && static_cast<int>(i) >= max_batches) break;
    const auto l = model.loss(make_batch(samples, batches[i]));
    sum += l.sum;
    tokens += l.tokens;
  }
  if (tokens == 0) throw InvalidInput("evaluation set has no target tokens");
  return {sum / static_cast<double>(tokens), tokens};
}

LadderLoss evaluate_ladder(TrainableModel& model, std::span<const int> ladder, const std::vector<Sample>& samples,
                           int batch_size, int max_batches) {
  LadderLoss out;
  const int r_max = model.config().rank;
  bool full_done = false;
  for (int b : ladder) {
    model.set_active_rank(b);
    const SplitLoss l = evaluate_loss(model, samples, batch_size, max_batches);
    out.ranks.push_back({b, l.loss, std::exp(l.loss)});
    if (b == r_max) {
      out.full = l;
      full_done = true;
    }
  }
  if (!ladder.empty()) model.set_active_rank(r_max);
  if (!full_done) out.full = evaluate_loss(model, samples, batch_size, max_batches);
  return out;
}

namespace {

struct Splits {
  std::vector<Sample> train, valid, test;
  bool has_test = false;
};

// Tokenizes the data folder's splits (test.jsonl only when asked for and present).
Splits load_splits(const TrainConfig& config) {
  const ModelConfig model_config = ModelConfig::load(config.model);
  const auto tokenizer = load_tokenizer(config.model);
  DataOptions data;
  data.max_seq_length = std::min(config.max_seq_length, model_config.max_position_embeddings);
  data.mask_prompt = config.mask_prompt;
  data.add_eos = config.add_eos;
  data.chat_format = load_chat_format(config.model);
  Splits splits;
  splits.train = load_split(config.data, "train", *tokenizer, data);
  splits.valid = load_split(config.data, "valid", *tokenizer, data);
  splits.has_test = config.test && std::filesystem::exists(std::filesystem::path(config.data) / "test.jsonl");
  if (splits.has_test) splits.test = load_split(config.data, "test", *tokenizer, data);
  return splits;
}

// The model with its adapters (or trainable base), resumed from an adapter file if asked.
TrainableModel prepare_model(const TrainConfig& config, const TrainCallbacks& callbacks) {
  auto message = [&](const std::string& m) {
    if (callbacks.on_message) callbacks.on_message(m);
  };
  TrainableModel tm = load_trainable_model(config.model, config.adapter, config.seed);
  if (!tm.unquantized_layers().empty()) {
    std::string names;
    for (const auto& n : tm.unquantized_layers()) names += (names.empty() ? "" : ", ") + n;
    message("left unquantized (input not a multiple of group size " +
            std::to_string(tm.config().quantization->group_size) + "): " + names);
  }
  if (!config.resume_adapter_file.empty()) {
    load_adapter_weights(config.resume_adapter_file, tm);
    message("resumed from " + config.resume_adapter_file);
  }
  return tm;
}

// The optimizer steps of one run, with the reports, evaluations and
// checkpoints due along the way.
class TrainingLoop {
 public:
  TrainingLoop(const TrainConfig& config, const TrainCallbacks& callbacks, TrainableModel& tm,
               const Splits& splits, TrainResult& result)
      : config_(config),
        callbacks_(callbacks),
        tm_(tm),
        valid_set_(splits.valid),
        result_(result),
        optimizer_(tm.parameters(), config.optimizer),
        stream_(splits.train, config.batch_size, config.seed,
                config.batch_order == "shuffle" ? BatchStream::Order::kShuffled : BatchStream::Order::kSortedGroups),
        schedule_(config.lr_schedule),
        format_(parse_adapter_format(config.adapter_format)),
        saved_config_(config.to_json()),
        // Nested ranks: the ladder scored at each validation (empty = plain adapter).
        ladder_(config.adapter.dynamic_rank ? rank_ladder(tm.config()) : std::vector<int>{}) {
    schedule_.peak = config.learning_rate;
    if (!ladder_.empty()) nested_step_.emplace(config.adapter.rank);
  }

  void run() {
    const int64_t resumed = resume();
    for (int64_t step = resumed + 1; step <= config_.iters; ++step) {
      const auto started = Clock::now();
      const auto [step_sum, step_tokens, lr] = optimizer_step(step);
      const double step_loss = step_sum / static_cast<double>(step_tokens);
      if (!std::isfinite(step_loss)) throw InvalidInput("training diverged: loss is " + std::to_string(step_loss) +
                                                        " at step " + std::to_string(step));
      result_.step_losses.push_back(step_loss);
      const double seconds = seconds_since(started);
      train_seconds_ += seconds;
      window_seconds_ += seconds;
      window_loss_ += step_sum;
      window_tokens_ += step_tokens;
      result_.trained_tokens += step_tokens;
      if (callbacks_.on_step) callbacks_.on_step(step, config_.iters);
      if (step % config_.steps_per_report == 0 || step == config_.iters) report(step, lr);
      if (step % config_.steps_per_eval == 0 && step != config_.iters) {
        const LadderLoss v = evaluate_ladder(tm_, ladder_, valid_set_, config_.batch_size, config_.val_batches);
        if (callbacks_.on_eval) callbacks_.on_eval({step, v.full.loss, std::exp(v.full.loss), v.ranks, {}});
      }
      if (config_.save_every > 0 && step % config_.save_every == 0 && step != config_.iters) checkpoint(step);
      if (config_.checkpoint_every > 0 && step % config_.checkpoint_every == 0 && step != config_.iters) save_state(step);
    }
    save_adapter(config_.adapter_path, tm_, format_, saved_config_);
  }

  const AdamW& optimizer() const { return optimizer_; }
  const std::vector<int>& ladder() const { return ladder_; }
  double train_seconds() const { return train_seconds_; }

 private:
  struct StepSums {
    double loss_sum = 0;  // nats over the step's target tokens
    int64_t tokens = 0;
    double learning_rate = 0;
  };

  // One optimizer step over grad_accumulation_steps micro-batches.
  StepSums optimizer_step(int64_t step) {
    tm_.zero_grad();
    if (!ladder_.empty()) {  // one prefix per optimizer step, shared by its micro-batches
      tm_.set_active_rank(sample_prefix_rank(config_.adapter.rank_sampling, ladder_, config_.adapter.rank, config_.seed, step));
    }
    std::vector<TrainBatch> micro;
    int64_t step_tokens = 0;
    for (int a = 0; a < config_.grad_accumulation_steps; ++a) {
      micro.push_back(stream_.next());
      step_tokens += micro.back().loss_tokens();
    }
    double step_sum = 0;
    for (int a = 0; a < config_.grad_accumulation_steps; ++a) {
      const TrainBatch& batch = micro[static_cast<std::size_t>(a)];
      const int64_t tokens = batch.loss_tokens();
      if (tokens == 0) throw InvalidInput("a training batch has no target tokens (all masked)");
      // Mean over each micro-batch's tokens, averaged over the micro-batches (as mlx-lm).
      const float scale = 1.0f / (static_cast<float>(tokens) * static_cast<float>(config_.grad_accumulation_steps));
      const auto l = tm_.forward_backward(batch, scale, config_.grad_checkpoint, micro_seed(config_.seed, step, a));
      step_sum += l.sum;
    }
    if (config_.max_grad_norm > 0) clip_grad_norm(tm_.parameters(), config_.max_grad_norm);
    const double lr = schedule_.at(step - 1, config_.iters);
    if (nested_step_) {
      nested_step_->apply(tm_.parameters(), optimizer_, tm_.active_rank(), lr);  // only the prefix moves
    } else {
      optimizer_.step(tm_.parameters(), lr);
    }
    return {step_sum, step_tokens, lr};
  }

  // The training loss and speed over the steps since the last report.
  void report(int64_t step, double lr) {
    StepReport r;
    r.step = step;
    r.train_loss = window_loss_ / static_cast<double>(window_tokens_);
    r.learning_rate = lr;
    r.tokens_per_second = static_cast<double>(window_tokens_) / window_seconds_;
    r.trained_tokens = result_.trained_tokens;
    r.peak_rss_mb = peak_rss_mb();
    if (callbacks_.on_report) callbacks_.on_report(r);
    window_loss_ = 0;
    window_seconds_ = 0;
    window_tokens_ = 0;
  }

  TrainingLoopState loop_state() {
    return {tm_.parameters(), optimizer_, stream_, nested_step_ ? &*nested_step_ : nullptr, result_.step_losses,
            result_.trained_tokens};
  }
  std::filesystem::path state_folder() const {
    return config_.checkpoint_dir.empty() ? std::filesystem::path(config_.adapter_path) / "checkpoint"
                                          : std::filesystem::path(config_.checkpoint_dir);
  }
  // Everything needed to continue after `step` exactly (training_checkpoint.h).
  void save_state(int64_t step) {
    save_training_checkpoint(state_folder(), step, loop_state(), saved_config_);
    if (callbacks_.on_checkpoint) callbacks_.on_checkpoint(step, state_folder().string());
  }
  // The step resume_checkpoint continues after (0 without one).
  int64_t resume() {
    if (config_.resume_checkpoint.empty()) return 0;
    const int64_t step = load_training_checkpoint(config_.resume_checkpoint, loop_state(), saved_config_);
    if (callbacks_.on_resume) callbacks_.on_resume(step);
    return step;
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
  const std::vector<Sample>& valid_set_;
  TrainResult& result_;
  AdamW optimizer_;
  BatchStream stream_;
  LrSchedule schedule_;
  const AdapterFormat format_;
  const nlohmann::json saved_config_;
  const std::vector<int> ladder_;
  std::optional<NestedRankStep> nested_step_;
  double window_loss_ = 0, window_seconds_ = 0;
  int64_t window_tokens_ = 0;
  double train_seconds_ = 0;
};

}  // namespace

namespace {

// The longest training sample in tokens (the length the peak is predicted for).
int longest_sample(const std::vector<Sample>& samples) {
  int longest = 1;
  for (const Sample& s : samples) longest = std::max(longest, static_cast<int>(s.tokens.size()));
  return longest;
}

// The config trained with: batch_size auto and effective_batch_size resolved
// for sequences of `seq_length` (the choice is one line of the log), and the
// predicted peak of what will run.
TrainConfig sized_config(const TrainConfig& requested, int seq_length, const TrainCallbacks& callbacks,
                         double& predicted_peak_mb) {
  BatchChoice choice;
  TrainConfig config = resolve_batch_size(requested, seq_length, &choice);
  if (requested.auto_batch_size && callbacks.on_message) callbacks.on_message(choice.line);
  const ModelConfig model = ModelConfig::load(config.model);
  predicted_peak_mb = predicted_peak_rss_mb(
      predict_training_tally(config, model, checkpoint_value_bytes(config.model), seq_length, config.batch_size));
  return config;
}

void record_sizing(const TrainConfig& config, double predicted_peak_mb, TrainResult& result) {
  result.micro_batch_size = config.batch_size;
  result.grad_accumulation_steps = config.grad_accumulation_steps;
  result.predicted_peak_rss_mb = predicted_peak_mb;
}

}  // namespace

TrainResult train(const TrainConfig& requested, const TrainCallbacks& callbacks) {
  requested.validate();
  set_num_threads(requested.threads);
  const ScopedPrecision products(requested.precision);
  if (!products.note().empty() && callbacks.on_message) callbacks.on_message(products.note());
  double predicted_peak_mb = 0;
  if (requested.train_mode == "dpo") {
    // Pairs are read by the preference loop; the peak is predicted for the longest allowed sequence.
    const int length = std::min(requested.max_seq_length, ModelConfig::load(requested.model).max_position_embeddings);
    const TrainConfig config = sized_config(requested, length, callbacks, predicted_peak_mb);
    TrainableModel tm = prepare_model(config, callbacks);
    TrainResult preference_result = train_preferences(config, callbacks, tm);
    preference_result.precision = product_precision();
    record_sizing(config, predicted_peak_mb, preference_result);
    return preference_result;
  }
  const Splits splits = load_splits(requested);
  const int max_length = longest_sample(splits.train);
  const TrainConfig config = sized_config(requested, max_length, callbacks, predicted_peak_mb);
  TrainableModel tm = prepare_model(config, callbacks);

  TrainResult result;
  TrainingLoop loop(config, callbacks, tm, splits, result);
  result.trainable_params = tm.trainable_params();
  result.unquantized_layers = tm.unquantized_layers();
  loop.run();

  const LadderLoss v = evaluate_ladder(tm, loop.ladder(), splits.valid, config.batch_size, -1);
  result.val_loss = v.full.loss;
  result.val_ppl = std::exp(v.full.loss);
  result.val_ranks = v.ranks;
  if (callbacks.on_eval) callbacks.on_eval({config.iters, result.val_loss, result.val_ppl, v.ranks, {}});
  if (splits.has_test) {
    const LadderLoss t = evaluate_ladder(tm, loop.ladder(), splits.test, config.batch_size, config.test_batches);
    result.test_loss = t.full.loss;
    result.test_ppl = std::exp(t.full.loss);
    result.test_ranks = t.ranks;
  }
  result.train_seconds = loop.train_seconds();
  result.tokens_per_second = static_cast<double>(result.trained_tokens) / loop.train_seconds();
  result.peak_rss_mb = peak_rss_mb();
  result.memory = training_memory_tally(tm, loop.optimizer(), config, config.batch_size, max_length);
  result.precision = product_precision();
  record_sizing(config, predicted_peak_mb, result);
  return result;
}

}  // namespace lorafarm::engine
