// Memory accounting for training: bytes the engine holds by category, the
// process's measured peak RSS, and a predictor of a run's peak before it
// starts (`lorafarm info MODEL --estimate METHOD`).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>

#include "engine/model_config.h"
#include "engine/precision.h"
#include "engine/trainable_model.h"

namespace lorafarm::engine {

struct MemoryTally {
  int64_t base_weights = 0;       // dense weights (float32; a 16-bit checkpoint's frozen matrices 2 bytes a value)
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
  int batch_size = 4;  // rows of one micro-batch (DPO: chosen and rejected rows together)
  int seq_length = 256;
  bool grad_checkpoint = false;
  // Bytes per value of the checkpoint's matrices: 2 for a bf16/fp16 checkpoint,
  // whose frozen matrices stay 16-bit (LoadOptions::keep_16bit), else 4.
  int weight_value_bytes = 4;
  Precision precision = Precision::kF32;  // the products' precision
};

// Predicts the tally of a configuration from the model config alone.
MemoryTally estimate_training_memory(const ModelConfig& model, const AdapterConfig& adapter, const TrainShape& shape);

// Bytes of what one micro-batch keeps for backward at its peak (the tally's
// `activations`): the one place that models activation sizes, per family and
// precision, so a change to what blocks keep is re-fitted here alone.
int64_t activation_bytes(const ModelConfig& model, const AdapterConfig& adapter, const TrainShape& shape);

// Bytes of a quantized (out, in) weight in the given format.
int64_t quantized_weight_bytes(int64_t out, int64_t in, const QuantizationConfig& q);

// The predicted peak RSS in MiB: the tally plus the process's fixed overhead
// (code, libraries, thread stacks, tokenizer, data set) measured on this engine.
double predicted_peak_rss_mb(const MemoryTally& tally);
// That fixed overhead, MiB.
double process_overhead_mb();

}  // namespace lorafarm::engine
