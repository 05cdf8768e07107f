// The architecture of a LLaMA-family model, read from a Hugging Face
// config.json. llama, mistral, qwen2 and phi3 differ only in these switches.
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

struct ModelConfig {
  std::string model_type;  // llama | mistral | qwen2 | phi3
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
};

// A random-weight config for benchmarks and tests: "tiny", "small"
// (hidden 288, 6 layers) or "medium" (hidden 768, 12 layers, GQA 12/4).
ModelConfig preset_config(const std::string& name);

}  // namespace lorafarm::engine
