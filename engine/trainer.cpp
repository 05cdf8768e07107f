// The training loop for any objective: model preparation, the optimizer steps,
// reports, validations, adapter copies and checkpoints.
#include "engine/trainer.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>

#include "engine/batch_sizing.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "engine/next_token_objective.h"
#include "engine/preference_training.h"
#include "engine/quantized_base.h"
#include "engine/training_checkpoint.h"
#include "engine/training_objective.h"

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
// checkpoints due along the way; what is minimised is the objective's.
class TrainingLoop {
 public:
  TrainingLoop(const TrainConfig& config, const TrainCallbacks& callbacks, TrainableModel& tm,
               TrainingObjective& objective, TrainResult& result)
      : config_(config),
        callbacks_(callbacks),
        tm_(tm),
        objective_(objective),
        result_(result),
        optimizer_(tm.parameters(), config.optimizer),
        schedule_(config.lr_schedule),
        format_(parse_adapter_format(config.adapter_format)),
        saved_config_(config.to_json()),
        // Nested ranks: one prefix of the ladder trained per step (empty = plain adapter).
        ladder_(config.adapter.dynamic_rank ? rank_ladder(tm.config()) : std::vector<int>{}) {
    schedule_.peak = config.learning_rate;
    if (!ladder_.empty()) nested_step_.emplace(config.adapter.rank);
  }

  void run() {
    const int64_t resumed = resume();
    if (resumed == 0 && objective_.validates_before_training()) evaluate(0);
    for (int64_t step = resumed + 1; step <= config_.iters; ++step) {
      const auto started = Clock::now();
      const StepSums sums = optimizer_step(step);
      const double step_loss = sums.loss_sum / static_cast<double>(sums.loss_terms);
      if (!std::isfinite(step_loss)) {
        throw InvalidInput("training diverged: " + std::string(objective_.loss_name()) + " is " +
                           std::to_string(step_loss) + " at step " + std::to_string(step));
      }
      result_.step_losses.push_back(step_loss);
      const double seconds = seconds_since(started);
      train_seconds_ += seconds;
      window_.add(sums, seconds);
      result_.trained_tokens += sums.tokens;
      if (callbacks_.on_step) callbacks_.on_step(step, config_.iters);
      if (step % config_.steps_per_report == 0 || step == config_.iters) report(step, sums.learning_rate);
      if (step % config_.steps_per_eval == 0 && step != config_.iters) evaluate(step);
      if (config_.save_every > 0 && step % config_.save_every == 0 && step != config_.iters) checkpoint(step);
      if (config_.checkpoint_every > 0 && step % config_.checkpoint_every == 0 && step != config_.iters) save_state(step);
    }
    save_adapter(config_.adapter_path, tm_, format_, saved_config_);
  }

  const AdamW& optimizer() const { return optimizer_; }
  double train_seconds() const { return train_seconds_; }

 private:
  struct StepSums : MicroBatchSums {
    double learning_rate = 0;
  };
  // Sums since the last report.
  struct Window {
    double loss_sum = 0, seconds = 0;
    int64_t loss_terms = 0, tokens = 0;
    void add(const MicroBatchSums& s, double step_seconds) {
      loss_sum += s.loss_sum;
      loss_terms += s.loss_terms;
      tokens += s.tokens;
      seconds += step_seconds;
    }
  };

  // One optimizer step over grad_accumulation_steps micro-batches.
  StepSums optimizer_step(int64_t step) {
    tm_.zero_grad();
    if (!ladder_.empty()) {  // one prefix per optimizer step, shared by its micro-batches
      tm_.set_active_rank(sample_prefix_rank(config_.adapter.rank_sampling, ladder_, config_.adapter.rank, config_.seed, step));
    }
    StepSums sums;
    const int accumulation = config_.grad_accumulation_steps;
    for (int a = 0; a < accumulation; ++a) {
      const std::vector<std::size_t>& items = objective_.batch_order().next();
      const MicroBatchSums micro = objective_.forward_backward(items, accumulation, micro_seed(config_.seed, step, a));
      sums.loss_sum += micro.loss_sum;
      sums.loss_terms += micro.loss_terms;
      sums.tokens += micro.tokens;
    }
    if (config_.max_grad_norm > 0) clip_grad_norm(tm_.parameters(), config_.max_grad_norm);
    sums.learning_rate = schedule_.at(step - 1, config_.iters);
    if (nested_step_) {
      nested_step_->apply(tm_.parameters(), optimizer_, tm_.active_rank(), sums.learning_rate);  // only the prefix moves
    } else {
      optimizer_.step(tm_.parameters(), sums.learning_rate);
    }
    return sums;
  }

  // A validation changes no training state, so it runs only when someone listens.
  void evaluate(int64_t step) {
    if (callbacks_.on_eval) callbacks_.on_eval(objective_.validate(step, config_.val_batches));
  }

  // The training loss and speed over the steps since the last report.
  void report(int64_t step, double lr) {
    StepReport r;
    r.step = step;
    r.train_loss = window_.loss_sum / static_cast<double>(window_.loss_terms);
    r.learning_rate = lr;
    r.tokens_per_second = static_cast<double>(window_.tokens) / window_.seconds;
    r.trained_tokens = result_.trained_tokens;
    r.peak_rss_mb = peak_rss_mb();
    if (callbacks_.on_report) callbacks_.on_report(r);
    window_ = Window();
  }

  TrainingLoopState loop_state() {
    return {tm_.parameters(), optimizer_, objective_.batch_order(), nested_step_ ? &*nested_step_ : nullptr,
            result_.step_losses, result_.trained_tokens};
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
  TrainingObjective& objective_;
  TrainResult& result_;
  AdamW optimizer_;
  LrSchedule schedule_;
  const AdapterFormat format_;
  const nlohmann::json saved_config_;
  const std::vector<int> ladder_;
  std::optional<NestedRankStep> nested_step_;
  Window window_;
  double train_seconds_ = 0;
};

std::unique_ptr<TrainingObjective> make_objective(const TrainConfig& config, TrainableModel& tm) {
  if (config.train_mode == "dpo") return make_preference_objective(config, tm);
  return make_next_token_objective(config, tm);
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
  // The objective reads `config`, whose batch size is settled once the data is read.
  TrainConfig config = requested;
  TrainableModel tm = prepare_model(config, callbacks);
  const std::unique_ptr<TrainingObjective> objective = make_objective(config, tm);
  double predicted_peak_mb = 0;
  config = sized_config(requested, objective->longest_sequence(), callbacks, predicted_peak_mb);

  TrainResult result;
  TrainingLoop loop(config, callbacks, tm, *objective, result);
  result.trainable_params = tm.trainable_params();
  result.unquantized_layers = tm.unquantized_layers();
  loop.run();

  objective->finish(result, loop.optimizer());
  if (callbacks.on_eval) {
    callbacks.on_eval({config.iters, result.val_loss, result.val_ppl, result.val_ranks, result.val_preference});
  }
  result.train_seconds = loop.train_seconds();
  result.tokens_per_second = static_cast<double>(result.trained_tokens) / loop.train_seconds();
  result.peak_rss_mb = peak_rss_mb();
  result.precision = product_precision();
  record_sizing(config, predicted_peak_mb, result);
  return result;
}

}  // namespace lorafarm::engine
