// Byte tallies by category, measured peak RSS, and the peak-memory predictor.
#include "engine/memory.h"

#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <string>

#include "engine/ops_backward.h"

namespace lorafarm::engine {
namespace {

double status_field_mb(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::stod(line.substr(key.size() + 1)) / 1024.0;  // kB
  }
  return -1;
}

constexpr int64_t kFloat = 4;

}  // namespace

nlohmann::json MemoryTally::to_json() const {
  return {{"base_weights", base_weights}, {"quantized_weights", quantized_weights},
          {"adapter_params", adapter_params}, {"gradients", gradients},
          {"optimizer_state", optimizer_state}, {"activations", activations},
          {"reference_model", reference_model}, {"total", total()}};
}

double peak_rss_mb() {
  const double hwm = status_field_mb("VmHWM");
  if (hwm >= 0) return hwm;
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux: kB
}

double current_rss_mb() { return status_field_mb("VmRSS"); }

int64_t quantized_weight_bytes(int64_t out, int64_t in, const QuantizationConfig& q) {
  const int64_t elements = out * in;
  if (q.mode == QuantizationConfig::Mode::kNf4) {
    // 4-bit codes, one 8-bit absmax per 64-block, one float scale per 256 absmaxes.
    return elements / 2 + elements / 64 + (elements / 64 / 256 + 1) * kFloat;
  }
  // MLX affine: packed bits plus a float scale and bias per group.
  return elements * q.bits / 8 + 2 * kFloat * (elements / q.group_size);
}

namespace {

// The seven linears of a block as (in, out), in Module order.
std::array<std::pair<int64_t, int64_t>, 7> linear_shapes(const ModelConfig& c) {
  const int64_t h = c.hidden_size, ff = c.intermediate_size;
  const int64_t qd = int64_t{c.num_heads} * c.head_dim, kvd = int64_t{c.num_kv_heads} * c.head_dim;
  return {std::pair{h, qd}, {h, kvd}, {h, kvd}, {qd, h}, {h, ff}, {h, ff}, {ff, h}};
}

int adapted_block_count(const ModelConfig& c, const AdapterConfig& adapter) {
  if (adapter.type == FineTuneType::kFull || adapter.num_layers == -1) return c.num_layers;
  return std::min(adapter.num_layers, c.num_layers);
}

// Weights as loaded: frozen matrices in the checkpoint's width (16-bit stays
// 16-bit), trained ones (full fine-tuning) float32, QLoRA's linears packed.
void tally_weights(const ModelConfig& c, const AdapterConfig& adapter, const TrainShape& shape, MemoryTally& t) {
  const bool full = adapter.type == FineTuneType::kFull;
  const int64_t matrix_bytes = full ? kFloat : shape.weight_value_bytes;
  const int64_t h = c.hidden_size;
  const int64_t embed = int64_t{c.vocab_size} * h * (c.tie_word_embeddings ? 1 : 2);
  // Per block: the two every family has, q/k norms (qwen3, gemma3) and Gemma's output norms; plus the final one.
  const int64_t norms_per_block = 2 * h + (c.qk_norm ? 2 * int64_t{c.head_dim} : 0) + (c.sandwich_norms ? 2 * h : 0);
  const int64_t norms = norms_per_block * c.num_layers + h;
  t.base_weights = embed * matrix_bytes + norms * kFloat;
  for (const auto& [in, out] : linear_shapes(c)) {
    if (adapter.quantization && in % adapter.quantization->group_size == 0) {
      t.quantized_weights += quantized_weight_bytes(out, in, *adapter.quantization) * c.num_layers;
    } else {
      t.base_weights += in * out * matrix_bytes * c.num_layers;
    }
  }
}

}  // namespace

MemoryTally estimate_training_memory(const ModelConfig& c, const AdapterConfig& adapter, const TrainShape& shape) {
  MemoryTally t;
  tally_weights(c, adapter, shape, t);
  const int64_t trainable = expected_trainable_params(c, adapter);
  if (adapter.type != FineTuneType::kFull) t.adapter_params = trainable * kFloat;
  t.gradients = trainable * kFloat;
  t.optimizer_state = 2 * trainable * kFloat;
  t.activations = activation_bytes(c, adapter, shape);
  return t;
}

// Precision adds one term: bf16 products pack their operands per call into
// buffers freed after it, except the head, packed once for all its row chunks.
int64_t activation_bytes(const ModelConfig& c, const AdapterConfig& adapter, const TrainShape& shape) {
  const auto shapes = linear_shapes(c);
  const int64_t h = c.hidden_size, ff = c.intermediate_size;
  const int64_t qd = int64_t{c.num_heads} * c.head_dim, kvd = int64_t{c.num_kv_heads} * c.head_dim;
  const bool full = adapter.type == FineTuneType::kFull;
  const int64_t n = int64_t{shape.batch_size} * shape.seq_length;
  const int blocks = adapted_block_count(c, adapter);
  int64_t lin_cache = 0;  // LoRA xA, DoRA's pre-scale output (dropout masks are regenerated from their seed)
  if (!full) {
    for (Module m : adapter.modules()) {
      lin_cache += n * adapter.rank;
      if (adapter.type == FineTuneType::kDora) lin_cache += n * shapes[m].second;
    }
  }
  // Kept per block: input, the residual after attention, q, k (before their
  // norms in q/k-norm families), v, gate, up; Gemma's two pre-norm outputs.
  const int64_t kept = n * (2 * h + qd + 2 * kvd + 2 * ff) + lin_cache + (c.sandwich_norms ? 2 * n * h : 0);
  // Rebuilt in backward one block at a time (a checkpointed block's re-forward
  // keeps them): both norm outputs, attention's output and probabilities, the
  // gated activation, and q, k after their norms.
  const int64_t probs = int64_t{shape.batch_size} * c.num_heads * int64_t{shape.seq_length} * shape.seq_length;
  const int64_t rebuilt = n * (2 * h + qd + ff) + probs + (c.qk_norm ? n * (qd + kvd) : 0);
  const int64_t stored = (shape.grad_checkpoint ? blocks * n * h + kept : blocks * kept) + rebuilt;
  // Temporaries: the final norm's input/output and dx, the head's (below)
  // and, with dropout, a regenerated mask and the masked input. A block's
  // backward temporaries (d_act, d_gate, d_up, dq/dk/dv ...)
  // are not counted: they take the memory its activations, freed at their last
  // use, return to the allocator. Counting them overestimated every cell of
  // memory_prediction_bench, by up to 36 % on TinyStories-656K at batch 8.
  const int64_t mask_scratch = !full && adapter.dropout > 0 ? 2 * n * std::max(h, std::max(qd, ff)) : 0;
  // A DoRA or QLoRA layer materialises one dense (out, in) weight at a time.
  int64_t widest = 0;
  for (const auto& [in, out] : shapes) widest = std::max(widest, in * out);
  const int64_t dense_scratch = (adapter.quantization || adapter.type == FineTuneType::kDora) ? 2 * widest : 0;
  // The head's buffers are freed before the blocks' backward rebuilds
  // anything, so the two phases peak apart: the head's with its chunk of
  // logits and, under bf16 products over enough chunks, the head packed once
  // in each orientation (2 bytes a value each: PackedWeight, engine/gemm.h).
  const bool packs_head = shape.precision == Precision::kBF16 &&
                          (n + kHeadChunkRows - 1) / kHeadChunkRows >= kHeadChunksToPrepack;
  const int64_t head_phase = kHeadChunkRows * int64_t{c.vocab_size} + (packs_head ? int64_t{c.vocab_size} * h : 0);
  const int64_t block_phase = rebuilt + mask_scratch + dense_scratch;
  return (stored - rebuilt + 4 * n * h + std::max(head_phase, block_phase)) * kFloat;
}

double process_overhead_mb() {
  // Code, libraries, thread stacks, tokenizer, data set and allocator slack of
  // `lorafarm train`: the median over bench/memory_prediction_bench's 72 cells
  // of measured peak minus tally (14 MB of it is the binary at rest).
  return 16.5;
}

double predicted_peak_rss_mb(const MemoryTally& tally) {
  // A run peaks in a micro-batch's forward/backward (activations live) or when
  // it saves at the end, which builds the file's tensors (the trainable values,
  // the size of the gradients) beside everything else: full fine-tuning's
  // larger peak at small batches.
  const int64_t training = tally.total();
  const int64_t saving = tally.total() - tally.activations + tally.gradients;
  return static_cast<double>(std::max(training, saving)) / (1024.0 * 1024.0) + process_overhead_mb();
}

}  // namespace lorafarm::engine
