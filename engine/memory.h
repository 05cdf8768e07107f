// Memory accounting for training: bytes the engine holds by category, the
// process's measured peak RSS, and a predictor of a run's peak before it
// starts (`lorafarm info MODEL --estimate METHOD`).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>

#include "engine/model_config.h"
#include "engine/trainable_model.h"

namespace lorafarm::engine {

struct MemoryTally {
  int64_t base_weights = 0;       // dense float32 weights (frozen or trained)
  int64_t quantized_weights = 0;  // packed quantized weights, scales and biases
  int64_t adapter_params = 0;     // LoRA A, B, DoRA m
  int64_t gradients = 0;
  int64_t optimizer_state = 0;    // AdamW's two moments
  int64_t activations = 0;        // saved for backward at the peak of one micro-batch
  int64_t reference_model = 0;    // DPO: the frozen copy of full fine-tuning (adapters off: 0)
  int64_t total() const {
    return base_weights + quantized_weights + adapter_params + gradients + optimizer_state + activations +
           reference_model;
  }
  nlohmann::json to_json() const;
};

// Peak resident set size of this process so far (VmHWM, else getrusage), MiB.
double peak_rss_mb();
// Current resident set size, MiB.
double current_rss_mb();

// What a training run of this shape needs at its peak.
struct TrainShape {
  int batch_size = 4;
  int seq_length = 256;
  bool grad_checkpoint = false;
};

// Predicts the tally of a configuration from the model config alone.
MemoryTally estimate_training_memory(const ModelConfig& model, const AdapterConfig& adapter, const TrainShape& shape);

// Bytes of a quantized (out, in) weight in the given format.
int64_t quantized_weight_bytes(int64_t out, int64_t in, const QuantizationConfig& q);

// The predicted peak RSS in MiB: the tally plus the process's fixed overhead
// (code, tokenizer, allocator slack) measured on this engine.
double predicted_peak_rss_mb(const MemoryTally& tally);

}  // namespace lorafarm::engine
