// Memory-aware batch sizing: the predicted peak RSS of a training config, and
// `batch_size: auto`, the largest micro-batch whose predicted peak fits a
// memory limit, with gradient accumulation keeping the effective batch.
#pragma once

#include <filesystem>
#include <string>

#include "engine/memory.h"
#include "engine/model_config.h"
#include "engine/trainer.h"

namespace lorafarm::engine {

// Bytes per value of a model folder's matrices as training keeps them frozen:
// 2 when the checkpoint stores them bf16/fp16 (LoadOptions::keep_16bit), else
// 4 (float32 checkpoints, and quantized folders, whose other matrices widen).
int checkpoint_value_bytes(const std::filesystem::path& folder);

// The predicted tally of `config` on `model` with micro-batches of
// `micro_batch` sequences of `seq_length` tokens (DPO: pairs, two rows each;
// full fine-tuning's frozen reference copy counted).
MemoryTally predict_training_tally(const TrainConfig& config, const ModelConfig& model, int value_bytes,
                                   int seq_length, int micro_batch);

struct MemoryLimit {
  double mb = 0;
  std::string source;  // where the figure came from, for the log line
};
// --memory-limit / memory_limit_mb when given; else the memory a worker offers
// its trial (LORAFARM_WORKER_MEMORY_MB, set by `lorafarm worker`); else this
// machine's available memory (MemAvailable in /proc/meminfo).
MemoryLimit memory_limit_for(const TrainConfig& config);

struct BatchChoice {
  int micro_batch = 1;
  int accumulation_steps = 1;
  double predicted_mb = 0;  // predicted peak RSS at micro_batch
  MemoryLimit limit;
  std::string line;  // the log line: what was picked and why
};
// The largest micro-batch dividing the effective batch whose predicted peak
// fits `limit`. InvalidInput with both figures when even one sequence does not.
BatchChoice choose_micro_batch(const TrainConfig& config, const ModelConfig& model, int value_bytes, int seq_length,
                               const MemoryLimit& limit);

// The config to train with: `batch_size: auto` resolved (choose_micro_batch,
// the choice in `choice`), and effective_batch_size turned into gradient
// accumulation. A config without either is returned as it is. Resuming a
// checkpoint, auto keeps the micro-batch the checkpoint trained with (its
// data order and sums depend on it) if it fits the limit, and is an
// InvalidInput with both figures if not, whatever a fresh choice would be.
TrainConfig resolve_batch_size(const TrainConfig& config, int seq_length, BatchChoice* choice);

}  // namespace lorafarm::engine
