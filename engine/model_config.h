// The architecture of a LLaMA-family model, read from a Hugging Face
// config.json. llama, mistral, qwen2, phi3, qwen3, smollm3, gemma2 and
// gemma3_text differ only in these switches (docs/models.md).
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace lorafarm::engine {

struct RopeScaling {
  enum class Type { kNone, kLinear, kLlama3 };
  Type type = Type::kNone;
  double factor = 1.0;
  // llama3 only (Llama 3.1's frequency-dependent scaling).
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  double original_max_position_embeddings = 8192;
};

// Group-wise quantization of the linear weights (`quantization` block of an
// MLX-style config.json, written by `lorafarm quantize`).
struct QuantizationConfig {
  enum class Mode { kAffine, kNf4 };
  Mode mode = Mode::kAffine;
  int bits = 4;
  int group_size = 64;
};

// The MLP's gate activation: SiLU (SwiGLU) or Gemma's tanh-approximated GELU.
enum class Activation { kSilu, kGeluTanh };

struct ModelConfig {
  std::string model_type;  // llama | mistral | qwen2 | phi3 | qwen3 | smollm3 | gemma2 | gemma3_text
  int hidden_size = 0;
  int intermediate_size = 0;
  int num_layers = 0;
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  int vocab_size = 0;
  int max_position_embeddings = 0;
  double rms_norm_eps = 1e-5;  // presets; config.json takes its family's default (docs/models.md)
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // qwen2: q/k/v have biases
  // Sliding-window attention as transformers masks it: a query at position i
  // sees keys j with i - window < j <= i. 0 = no layer slides.
  int sliding_window = 0;
  // Which layers slide (qwen2: `layer_types`, or the layers from
  // `max_window_layers` on); empty = every layer, when sliding_window > 0.
  std::vector<bool> sliding_layers;
  bool fused_qkv = false;       // phi3: qkv_proj holds q, k and v
  bool fused_gate_up = false;   // phi3: gate_up_proj holds gate and up
  // qwen3, gemma3_text: each query and key head is RMS-normed (q_norm, k_norm
  // weights of head_dim) before RoPE.
  bool qk_norm = false;
  // gemma: every RMSNorm multiplies by (1 + weight) instead of weight.
  bool norm_plus_one = false;
  // gemma: the attention and MLP outputs are RMS-normed before their residual
  // adds (post_attention_layernorm, post_feedforward_layernorm).
  bool sandwich_norms = false;
  Activation activation = Activation::kSilu;
  // gemma: embeddings are multiplied by √hidden_size (Model::embed_scale).
  bool scale_embeddings = false;
  double query_pre_attn_scalar = 0;    // gemma: scores × this^-1/2; 0 = head_dim
  double attn_logit_softcapping = 0;   // scores → c·tanh(scores/c); 0 = none
  double final_logit_softcapping = 0;  // logits → c·tanh(logits/c); 0 = none
  // smollm3 (no_rope_layers): which layers rotate q and k; empty = every layer.
  std::vector<bool> rope_layers;
  // gemma3_text: the sliding layers' RoPE base (rope_local_base_freq, no
  // scaling); 0 = every layer uses rope_theta and rope_scaling.
  double rope_local_theta = 0;
  std::optional<int> bos_token_id;
  std::vector<int> eos_token_ids;
  std::optional<QuantizationConfig> quantization;

  // Throws InvalidInput naming the field for anything missing or unsupported.
  static ModelConfig from_json(const nlohmann::json& json);
  static ModelConfig load(const std::filesystem::path& model_folder);
  nlohmann::json to_json() const;

  // Parameter count of the model as stored (embedding counted once when tied).
  int64_t parameter_count() const;
  // The attention window of block `layer` (0 = full causal attention).
  int attention_window(int layer) const;
  // Whether block `layer` rotates q and k (smollm3 has layers without RoPE).
  bool uses_rope(int layer) const;
  // The factor of q·k in attention scores (query_pre_attn_scalar^-1/2 or head_dim^-1/2).
  float attention_scale() const;
};

// A random-weight config for benchmarks and tests: "tiny", "small"
// (hidden 288, 6 layers) or "medium" (hidden 768, 12 layers, GQA 12/4).
ModelConfig preset_config(const std::string& name);

}  // namespace lorafarm::engine
