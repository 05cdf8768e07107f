// A model prepared for one fine-tuning method: LoRA / DoRA adapters on chosen
// linear layers of the last `num_layers` blocks, or every weight trainable
// (full), over a frozen base that may be quantized (QLoRA). It runs the
// forward pass keeping what backward needs (or only block inputs, with
// gradient checkpointing) and the analytic backward pass of the whole model.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/dynamic_rank.h"
#include "engine/lora_linear.h"
#include "engine/model.h"
#include "engine/parameter.h"
#include "engine/quantization.h"
#include "engine/train_batch.h"

namespace lorafarm::engine {

enum class FineTuneType { kLora, kDora, kFull };

// "lora" | "dora" | "full" ("qlora" is LoRA over a quantized base: the caller
// sets AdapterConfig::quantization).
FineTuneType parse_fine_tune_type(std::string_view name);
const char* fine_tune_type_name(FineTuneType type);

// The seven linear layers of a block, by their HF module names.
inline constexpr std::array<const char*, 7> kLinearModules = {
    "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
    "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};
enum Module { kQ = 0, kK, kV, kO, kGate, kUp, kDown };

struct AdapterConfig {
  FineTuneType type = FineTuneType::kLora;
  int num_layers = -1;  // adapt the last N blocks; -1 = all
  int rank = 8;
  float scale = 20.0f;         // mlx-lm's plain multiplier ...
  std::optional<float> alpha;  // ... or PEFT's alpha/r (alpha/√r with rslora)
  bool rslora = false;
  float dropout = 0.0f;
  std::vector<std::string> keys;  // module names (full or short: "q_proj"); empty = all seven
  std::optional<QuantizationConfig> quantization;  // QLoRA: quantize the frozen base
  // Nested ranks (DyLoRA, engine/dynamic_rank.h): each step trains a prefix
  // of the `rank` dimensions; validation scores every rank of the ladder.
  bool dynamic_rank = false;
  std::vector<int> rank_ladder;  // empty = 1, 2, 4, ... up to rank
  RankSampling rank_sampling = RankSampling::kLadder;
  RankScale rank_scale = RankScale::kDyLora;  // the scale of a prefix (dynamic_rank.h)
  std::optional<float> rank_scale_exponent;   // when set, prefix b runs at α/b^p instead

  // The multiplier s actually applied.
  float effective_scale() const;
  // Module indices of `keys`; InvalidInput naming an unknown key.
  std::vector<Module> modules() const;
};

class TrainableModel {
 public:
  // Validates the config against the model (rank, keys, num_layers) and
  // initialises adapters from `seed`.
  TrainableModel(Model model, const AdapterConfig& config, uint64_t seed);
  // QLoRA from a quantized model folder: `model`'s quantized linears have
  // empty weights and their packed forms come in `quantized` (per block, by
  // module name), used as they are.
  TrainableModel(Model model, const AdapterConfig& config, uint64_t seed,
                 std::vector<std::map<std::string, QuantizedMatrix>> quantized);

  const Model& model() const { return *model_; }
  const AdapterConfig& config() const { return config_; }
  int first_adapted_block() const { return first_block_; }

  struct Loss {
    double sum = 0;      // Σ weight·CE in nats
    int64_t tokens = 0;  // positions with loss
  };
  // Forward and backward of grad_scale·Σ weight·CE: the gradients are added to
  // the parameters' grads (call zero_grad() between optimizer steps).
  // `dropout_seed` makes dropout masks reproducible.
  Loss forward_backward(const TrainBatch& batch, float grad_scale, bool grad_checkpoint, uint64_t dropout_seed);
  // Forward only (no dropout).
  Loss loss(const TrainBatch& batch) const;
  // Forward only: Σ weight·CE of each row (sequence) of the batch. With
  // `dropout_seed`, dropout as forward_backward applies it with that seed.
  std::vector<double> sequence_losses(const TrainBatch& batch, std::optional<uint64_t> dropout_seed) const;
  // Adapters off: the model computes its frozen base alone (DPO's reference
  // for the LoRA family). Only forward passes may run while they are off.
  void set_adapters_enabled(bool enabled);

  std::vector<ParamRef>& parameters() { return parameters_; }
  const std::vector<ParamRef>& parameters() const { return parameters_; }
  // Fingerprint of the base model this was built on (see model_fingerprint).
  const std::string& base_fingerprint() const { return base_fingerprint_; }
  void zero_grad();
  int64_t trainable_params() const;

  AdaptedLinear& layer(int block, Module module) { return layers_[index(block, module)]; }
  const AdaptedLinear& layer(int block, Module module) const { return layers_[index(block, module)]; }
  bool is_adapted(int block, Module module) const { return layers_[index(block, module)].has_adapter(); }
  // Names of linear layers left unquantized (input not a multiple of the group size).
  const std::vector<std::string>& unquantized_layers() const { return unquantized_; }

  // Nested-rank adapters: from now on every adapted layer uses only its first
  // `b` rank dimensions with prefix_scale(config, b) (b = rank: the whole
  // adapter). InvalidInput unless the config has dynamic_rank and 1 <= b <= rank.
  void set_active_rank(int b);
  int active_rank() const { return active_rank_; }

  // The plain model with adapters merged into its weights (for `fuse`).
  Model merged_model() const;

 private:
  struct BlockCache;
  struct Context;
  // Full fine-tuning's gradients of one block's norm weights (unused ones empty).
  struct NormGrads {
    Vector input, mlp, q, k, attention_out, mlp_out;
  };
  static std::size_t index(int block, Module module) { return static_cast<std::size_t>(block) * 7 + module; }
  Matrix embed(const std::vector<TokenId>& ids) const;
  // `seed` is given while training (dropout on), absent for evaluation.
  void block_forward(int block, const Context& ctx, Matrix& x, BlockCache* cache, std::optional<uint64_t> seed) const;
  void attention_forward(int block, const Context& ctx, BlockCache& bc, bool keep, std::optional<uint64_t> seed) const;
  void mlp_forward(int block, Matrix& x, BlockCache& bc, bool keep, std::optional<uint64_t> seed) const;
  // q/k norms and RoPE in place; attention's output (and probabilities) from q, k, v.
  void finish_qk(int block, const Context& ctx, BlockCache& bc) const;
  void attend(int block, const Context& ctx, BlockCache& bc, bool keep_probs) const;
  void block_backward(int block, const Context& ctx, BlockCache& cache, const Matrix& d_out, Matrix* dx);
  // dL/d(the residual entering the MLP), from dL/d(the block's output).
  void mlp_backward(int block, BlockCache& bc, const Matrix& d_out, Matrix& dh);
  // dL/d(normed input of the attention), from dL/d(attention's residual branch).
  void attention_backward(int block, const Context& ctx, BlockCache& bc, const Matrix& d_branch, Matrix& dq,
                          Matrix& dk, Matrix& dv);
  // A block's norm of `in` (the family's scale), and its backward adding the
  // weight gradient to `grad` when that is not empty (full fine-tuning).
  void block_norm(const Vector& weight, const Matrix& in, Matrix& out, Vector* inv) const;
  void block_norm_backward(const Vector& weight, const Matrix& in, const Vector& inv, const Matrix& dy, Matrix& dx,
                           Vector& grad) const;
  void quantize_base(const QuantizationConfig& q, std::vector<std::map<std::string, QuantizedMatrix>>* prequantized);
  void init(uint64_t seed, std::vector<std::map<std::string, QuantizedMatrix>>* prequantized);
  void make_base_trainable();
  void add_adapters(uint64_t seed);
  void collect_parameters();

  std::unique_ptr<Model> model_;
  AdapterConfig config_;
  int first_block_ = 0;
  std::vector<AdaptedLinear> layers_;  // 7 per block
  std::vector<ParamRef> parameters_;
  std::vector<std::string> unquantized_;
  std::string base_fingerprint_;
  int active_rank_ = 0;  // 0 for full fine-tuning
  // Full fine-tuning's gradients of the non-linear weights.
  Matrix embed_grad_, head_grad_;
  std::vector<NormGrads> norm_grads_;
  Vector final_norm_grad_;
};

// A stable hash (hex) of a model's shapes and embedding: adapters record the
// base they were trained on with it.
std::string model_fingerprint(const Model& model);

// The closed-form trainable-parameter count of a method on a config (what
// TrainableModel::trainable_params() must equal).
int64_t expected_trainable_params(const ModelConfig& model, const AdapterConfig& config);

}  // namespace lorafarm::engine
