// A linear layer as training sees it: a base weight that is frozen (dense, or
// quantized for QLoRA) or trainable (full fine-tuning), optionally with a
// LoRA or DoRA adapter on top. Only trainable tensors own gradients.
//
//   LoRA (mlx-lm):  y = x Wᵀ + s·(drop(x) A) B + b          A (in, r), B (r, out)
//   DoRA:           y = m/‖W + s·(AB)ᵀ‖_row ⊙ (x Wᵀ + s·(drop(x) A) B) + b
// with the row norm treated as a constant in backward (as the DoRA paper,
// PEFT and mlx-lm do).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "engine/linear.h"
#include "engine/parameter.h"
#include "engine/tensor.h"

namespace lorafarm::engine {

struct QuantizedMatrix;

struct LoraSettings {
  int rank = 8;
  float scale = 20.0f;  // the multiplier s (alpha/r or alpha/√r already applied)
  float dropout = 0.0f;
  bool dora = false;
};

class AdaptedLinear {
 public:
  // What forward keeps for backward (the input x itself stays with the caller,
  // since q, k and v share theirs).
  struct Cache {
    // The dropout mask's seed, absent without dropout: backward regenerates the
    // (rows, in) mask from it rather than keeping it (dropout_mask is a pure hash).
    std::optional<uint64_t> dropout_seed;
    Matrix xa;          // drop(x) A, (rows, r) — (rows, b) with a rank prefix
    Matrix z;           // DoRA: the output before the magnitude scaling
    Vector dora_norm;   // DoRA: ‖W + s·(AB)ᵀ‖_row
    Vector dora_scale;  // DoRA: m / dora_norm
  };

  // `base` must outlive the layer; it is only written by full fine-tuning.
  explicit AdaptedLinear(Linear& base) : base_(&base) {}

  // Uses a quantized copy of the weight for the frozen base (QLoRA); the dense
  // weight of `base` may then be released by the caller (its bias is kept).
  void set_quantized_base(std::shared_ptr<const QuantizedMatrix> quantized);
  bool quantized() const { return quantized_ != nullptr; }
  const QuantizedMatrix* quantized_base() const { return quantized_.get(); }

  // Adds a LoRA/DoRA adapter: A uniform in ±1/√in, B zero, m = row norms of W.
  void add_adapter(const LoraSettings& settings, std::mt19937_64& rng);
  // Makes the base weight (and bias) trainable.
  void make_trainable();

  // Nested ranks (DyLoRA): forward, backward and merged_weight use only
  // A[:, :rank] and B[:rank, :] with `scale` in place of settings().scale, and
  // only that prefix receives gradient. add_adapter sets the whole adapter.
  void set_active_rank(int rank, float scale);
  int active_rank() const { return active_rank_; }

  // Off: forward computes the base layer alone (DPO's reference model,
  // PEFT's disable_adapter); backward must not follow such a forward.
  void set_adapter_enabled(bool enabled) { adapter_enabled_ = enabled; }

  bool has_adapter() const { return lora_a_.size() > 0; }
  bool is_dora() const { return magnitude_.size() > 0; }
  bool trainable_base() const { return train_base_; }
  const LoraSettings& settings() const { return settings_; }
  Eigen::Index in_features() const;
  Eigen::Index out_features() const;

  // y = the layer's output for x (rows, in). `cache` may be null when no
  // backward follows. Dropout applies only while training, i.e. when
  // `dropout_seed` is given; it picks the mask reproducibly.
  void forward(const Matrix& x, Matrix& y, Cache* cache, std::optional<uint64_t> dropout_seed) const;
  // Accumulates the gradients of the trainable tensors and dx += dL/dx (dx
  // may be null for the first layer's input when nothing upstream trains).
  void backward(const Matrix& x, const Cache& cache, const Matrix& dy, Matrix* dx);

  // The trainable tensors, named `prefix` + ".lora_a" / ".lora_b" / ".m"
  // (adapter) or ".weight" / ".bias" (full fine-tuning).
  void collect_parameters(const std::string& prefix, std::vector<ParamRef>& out);
  void zero_grad();

  // The dense weight the layer computes with: W, or with its adapter merged
  // (W + s·(AB)ᵀ, DoRA-normalised). Used by `fuse` and for checks.
  Matrix merged_weight() const;
  Matrix base_weight() const;  // dequantized when quantized
  const Linear& base() const { return *base_; }

  Matrix& lora_a() { return lora_a_; }
  Matrix& lora_b() { return lora_b_; }
  Vector& magnitude() { return magnitude_; }
  const Matrix& lora_a() const { return lora_a_; }
  const Matrix& lora_b() const { return lora_b_; }
  const Vector& magnitude() const { return magnitude_; }

 private:
  void base_product(const Matrix& x, Matrix& y) const;                // y = x Wᵀ
  void base_transposed_product(const Matrix& g, Matrix& dx) const;    // dx += g W
  Vector adapted_row_norms() const;

  Linear* base_;
  std::shared_ptr<const QuantizedMatrix> quantized_;
  bool train_base_ = false;
  Matrix weight_grad_;
  Vector bias_grad_;

  LoraSettings settings_;
  Matrix lora_a_, lora_b_;      // (in, r), (r, out)
  Vector magnitude_;            // DoRA m (out)
  Matrix lora_a_grad_, lora_b_grad_;
  Vector magnitude_grad_;
  int active_rank_ = 0;        // prefix in use (= settings_.rank unless nested-rank training)
  float active_scale_ = 0.0f;  // its multiplier
  bool adapter_enabled_ = true;
};

// A reproducible dropout mask: element i keeps with probability 1 − p, as a
// hash of (seed, i), so recomputation (gradient checkpointing) and any thread
// count give the same mask.
Matrix dropout_mask(Eigen::Index rows, Eigen::Index cols, float p, uint64_t seed);

}  // namespace lorafarm::engine
