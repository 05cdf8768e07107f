// The fine-tuning loop with mlx-lm's options: batches from the data set,
// gradient accumulation and clipping, AdamW with a schedule, reports every
// steps_per_report steps, validation every steps_per_eval on val_batches,
// checkpoints every save_every, and at the end the adapter, the full
// validation and test scores. Same seed and thread count ⇒ the same losses,
// bit for bit.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/adapter_io.h"
#include "engine/dataset.h"
#include "engine/dpo_loss.h"
#include "engine/lr_schedule.h"
#include "engine/memory.h"
#include "engine/optimizer.h"
#include "engine/precision.h"
#include "engine/trainable_model.h"

namespace lorafarm::engine {

struct TrainConfig {
  std::string model;  // HF model folder
  std::string data;   // folder with train/valid/test.jsonl
  AdapterConfig adapter;
  int batch_size = 4;
  // batch_size "auto": the largest micro-batch whose predicted peak fits
  // memory_limit_mb (engine/batch_sizing.h), effective_batch_size kept
  // through gradient accumulation.
  bool auto_batch_size = false;
  int effective_batch_size = 0;  // 0 = not given (auto: 4, mlx-lm's batch size)
  std::optional<double> memory_limit_mb;  // auto's limit; default: the worker's offer, else available memory
  int iters = 1000;
  double learning_rate = 1e-5;
  LrSchedule lr_schedule;  // peak = learning_rate unless its arguments say otherwise
  AdamWOptions optimizer;
  double max_grad_norm = 0;  // 0 = no clipping
  bool grad_checkpoint = false;
  int grad_accumulation_steps = 1;
  bool mask_prompt = false;
  int steps_per_report = 10;
  int steps_per_eval = 200;
  int val_batches = 25;   // -1 = the whole validation set
  int test_batches = -1;  // -1 = the whole test set
  int save_every = 100;   // 0 = only at the end
  uint64_t seed = 0;
  int max_seq_length = 2048;
  bool add_eos = true;
  std::string batch_order = "sorted";  // "sorted" (mlx-lm) | "shuffle"
  std::string adapter_path = "adapters";
  std::string adapter_format = "mlx";  // mlx | peft
  std::string resume_adapter_file;
  // Training checkpoints (engine/training_checkpoint.h): every checkpoint_every
  // steps (0 = none) into checkpoint_dir (default <adapter_path>/checkpoint);
  // resume_checkpoint names a checkpoint folder to continue from.
  int checkpoint_every = 0;
  std::string checkpoint_dir;
  std::string resume_checkpoint;
  bool test = true;  // score test.jsonl at the end when it exists
  int threads = 0;
  // "sft" (next-token loss) or "dpo": preference pairs, engine/preference_training.h.
  std::string train_mode = "sft";
  DpoOptions dpo;  // beta, loss_type, label_smoothing (train_mode "dpo")
  // Products in fp32, or bf16 with fp32 sums (engine/precision.h); weights,
  // optimizer state and the loss stay fp32.
  Precision precision = Precision::kF32;

  // mlx-lm style JSON (unknown keys are an error naming them).
  static TrainConfig from_json(const nlohmann::json& json);
  nlohmann::json to_json() const;
  // Checks ranges; InvalidInput naming the field.
  void validate() const;
};

struct StepReport {
  int64_t step = 0;
  double train_loss = 0;
  double learning_rate = 0;
  double tokens_per_second = 0;
  int64_t trained_tokens = 0;
  double peak_rss_mb = 0;
};

// The loss of a nested-rank adapter truncated to its first `rank` dimensions.
struct RankLoss {
  int rank = 0;
  double loss = 0;
  double ppl = 0;
};

struct EvalReport {
  int64_t step = 0;
  double val_loss = 0;  // the whole adapter (rank r_max with dynamic_rank)
  double val_ppl = 0;
  std::vector<RankLoss> ranks;  // dynamic_rank: every rank of the ladder
  std::optional<DpoMetrics> preference;  // DPO: val_loss is its loss, val_ppl NaN
};

struct TrainResult {
  double val_loss = 0, val_ppl = 0;
  std::optional<double> test_loss, test_ppl;
  std::vector<RankLoss> val_ranks, test_ranks;  // dynamic_rank: the final scores at every ladder rank
  std::optional<DpoMetrics> val_preference, test_preference;  // DPO (val_ppl NaN, test_ppl absent)
  double peak_rss_mb = 0;
  int64_t trainable_params = 0;
  double tokens_per_second = 0;
  double train_seconds = 0;
  int64_t trained_tokens = 0;
  std::vector<double> step_losses;  // train loss of every optimizer step
  MemoryTally memory;
  std::vector<std::string> unquantized_layers;
  Precision precision = Precision::kF32;  // the products' precision in effect (fp32 where bf16 is unsupported)
  int micro_batch_size = 0;         // the batch size trained with (batch_size auto: the one chosen)
  int grad_accumulation_steps = 1;  // likewise
  double predicted_peak_rss_mb = 0;  // engine/batch_sizing.h's prediction for the run's config and longest sample
};

struct TrainCallbacks {
  std::function<void(const std::string&)> on_message;  // notes (e.g. layers left unquantized)
  std::function<void(int64_t step, int64_t total)> on_step;
  std::function<void(const StepReport&)> on_report;
  std::function<void(const EvalReport&)> on_eval;
  std::function<void(int64_t step, const std::string& folder)> on_checkpoint;  // a checkpoint is complete
  std::function<void(int64_t step)> on_resume;  // continuing after the checkpoint of `step`
};

// Mean loss (nats per target token) of `samples` in length-sorted batches;
// `max_batches` < 0 = all.
struct SplitLoss {
  double loss = 0;
  int64_t tokens = 0;
};
SplitLoss evaluate_loss(const TrainableModel& model, const std::vector<Sample>& samples, int batch_size,
                        int max_batches);

// evaluate_loss at every rank of `ladder` (a nested-rank model), then the
// whole adapter; the model is left at its full rank.
struct LadderLoss {
  SplitLoss full;
  std::vector<RankLoss> ranks;
};
LadderLoss evaluate_ladder(TrainableModel& model, std::span<const int> ladder, const std::vector<Sample>& samples,
                           int batch_size, int max_batches);

// Bytes of a model's dense float weights (embedding, norms, linears, head).
int64_t float_weight_bytes(const Model& model);
// The engine's tally of a run (activations for `micro_batch_rows` sequences of `seq_length`).
MemoryTally training_memory_tally(const TrainableModel& tm, const AdamW& optimizer, const TrainConfig& config,
                                  int micro_batch_rows, int seq_length);

// Loads the model, the data and the adapter config, and trains.
TrainResult train(const TrainConfig& config, const TrainCallbacks& callbacks = {});

}  // namespace lorafarm::engine
