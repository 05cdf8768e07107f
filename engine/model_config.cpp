// config.json parsing and validation.
#include "engine/model_config.h"

#include <cmath>
#include <fstream>
#include <optional>
#include <string>

#include "engine/config_fields.h"
#include "engine/error.h"
#include "engine/model_family.h"
#include "engine/rope_config.h"

namespace lorafarm::engine {
namespace {

using nlohmann::json;

// model_type, which must name a supported family.
std::string parse_model_type(const json& j) {
  if (!j.contains("model_type") || !j["model_type"].is_string()) {
    throw InvalidInput("config.json: missing required field 'model_type'");
  }
  const std::string type = j["model_type"];
  family_defaults(type);  // throws for an unsupported one
  return type;
}

// num_key_value_heads: absent takes the family's default, null the head count.
int parse_kv_heads(const json& j, const FamilyDefaults& family, int heads) {
  if (!j.contains("num_key_value_heads")) return family.num_kv_heads.value_or(heads);
  if (j["num_key_value_heads"].is_null()) return heads;
  return required_config_int(j, "num_key_value_heads");
}

// Sizes, heads and positions.
void parse_dimensions(const json& j, const FamilyDefaults& family, ModelConfig& c) {
  c.hidden_size = required_config_int(j, "hidden_size");
  c.intermediate_size = required_config_int(j, "intermediate_size");
  c.num_layers = required_config_int(j, "num_hidden_layers");
  c.num_heads = required_config_int(j, "num_attention_heads");
  c.num_kv_heads = parse_kv_heads(j, family, c.num_heads);
  c.vocab_size = required_config_int(j, "vocab_size");
  if (has_config_field(j, "head_dim")) {
    c.head_dim = required_config_int(j, "head_dim");
  } else if (family.head_dim) {
    c.head_dim = *family.head_dim;
  } else if (c.hidden_size % c.num_heads != 0) {
    throw InvalidInput("config.json: hidden_size (" + std::to_string(c.hidden_size) +
                       ") must be a multiple of num_attention_heads when 'head_dim' is not given");
  } else {
    c.head_dim = c.hidden_size / c.num_heads;
  }
  if (c.num_heads % c.num_kv_heads != 0) {
    throw InvalidInput("config.json: num_attention_heads (" + std::to_string(c.num_heads) +
                       ") must be a multiple of num_key_value_heads (" + std::to_string(c.num_kv_heads) + ")");
  }
  if (c.head_dim % 2 != 0) throw InvalidInput("config.json: head_dim must be even for rotary embeddings");
  c.max_position_embeddings = has_config_field(j, "max_position_embeddings")
                                  ? required_config_int(j, "max_position_embeddings")
                                  : family.max_position_embeddings;
}

// bos_token_id, and eos_token_id as one id or a list.
void parse_special_tokens(const json& j, ModelConfig& c) {
  if (j.contains("bos_token_id") && j["bos_token_id"].is_number_integer()) c.bos_token_id = j["bos_token_id"].get<int>();
  if (!j.contains("eos_token_id")) return;
  const json& eos = j["eos_token_id"];
  if (eos.is_number_integer()) c.eos_token_ids.push_back(eos.get<int>());
  if (eos.is_array()) {
    for (const json& e : eos) {
      if (e.is_number_integer()) c.eos_token_ids.push_back(e.get<int>());
    }
  }
}

// The `quantization` object of a quantized model folder, if any.
std::optional<QuantizationConfig> parse_quantization(const json& j) {
  if (!j.contains("quantization") || j["quantization"].is_null()) return std::nullopt;
  const json& q = j["quantization"];
  if (!q.is_object()) throw InvalidInput("config.json: field 'quantization' must be an object");
  QuantizationConfig quant;
  quant.bits = required_config_int(q, "bits", "quantization.");
  quant.group_size = required_config_int(q, "group_size", "quantization.");
  const std::string mode = q.value("mode", std::string("affine"));
  if (mode == "affine") quant.mode = QuantizationConfig::Mode::kAffine;
  else if (mode == "nf4") quant.mode = QuantizationConfig::Mode::kNf4;
  else throw InvalidInput("config.json: field 'quantization.mode' is '" + mode + "'; supported: affine, nf4");
  return quant;
}

// The window fields as the family's transformers config reads them back
// (Mistral's absent sliding_window would mean 4096, so null is written).
void put_attention_windows(const ModelConfig& c, json& j) {
  j["sliding_window"] = c.sliding_window > 0 ? json(c.sliding_window) : json(nullptr);
  if (c.model_type == "mistral" || c.model_type == "phi3") return;
  json types = json::array();
  int leading_full = 0;
  for (int layer = 0; layer < c.num_layers; ++layer) {
    const bool slides = c.attention_window(layer) > 0;
    types.push_back(slides ? "sliding_attention" : "full_attention");
    if (!slides && leading_full == layer) ++leading_full;
  }
  j["layer_types"] = types;
  if (c.model_type == "qwen2" || c.model_type == "qwen3") {
    j["max_window_layers"] = leading_full;  // read by transformers before 4.53, which ignores layer_types
  }
  if (c.model_type != "gemma2" && c.model_type != "gemma3_text") j["use_sliding_window"] = c.sliding_window > 0;
}

// The switches of the newer families under their config.json names.
void put_family_features(const ModelConfig& c, json& j) {
  if (!c.rope_layers.empty() || c.model_type == "smollm3") {
    json flags = json::array();
    for (int layer = 0; layer < c.num_layers; ++layer) flags.push_back(c.uses_rope(layer) ? 1 : 0);
    j["no_rope_layers"] = flags;
  }
  if (!c.sandwich_norms) return;  // gemma from here on
  j.erase("hidden_act");
  j["hidden_activation"] = "gelu_pytorch_tanh";
  j["query_pre_attn_scalar"] = c.query_pre_attn_scalar;
  auto cap = [](double v) { return v > 0 ? json(v) : json(nullptr); };
  j["attn_logit_softcapping"] = cap(c.attn_logit_softcapping);
  j["final_logit_softcapping"] = cap(c.final_logit_softcapping);
  if (c.rope_local_theta > 0) j["rope_local_base_freq"] = c.rope_local_theta;
}

const char* architecture_name(const std::string& model_type) {
  if (model_type == "phi3") return "Phi3ForCausalLM";
  if (model_type == "mistral") return "MistralForCausalLM";
  if (model_type == "qwen2") return "Qwen2ForCausalLM";
  if (model_type == "qwen3") return "Qwen3ForCausalLM";
  if (model_type == "smollm3") return "SmolLM3ForCausalLM";
  if (model_type == "gemma2") return "Gemma2ForCausalLM";
  if (model_type == "gemma3_text") return "Gemma3ForCausalLM";
  return "LlamaForCausalLM";
}

// rope_theta/rope_scaling, rope_parameters, or (gemma3_text) the per-layer-type
// rope_parameters that also give the sliding layers' base.
void parse_rope_fields(const json& j, const FamilyDefaults& family, ModelConfig& c) {
  if (c.model_type == "gemma3_text") {
    const double local = config_number(j, "rope_local_base_freq", 10000.0);
    if (auto per_type = parse_layer_type_rope(j, family.rope_theta, local)) {
      c.rope_theta = per_type->full.theta;
      c.rope_scaling = per_type->full.scaling;
      c.rope_local_theta = per_type->sliding_theta;
      return;
    }
  }
  const RopeSettings rope = parse_rope(j, family.rope_theta);
  c.rope_theta = rope.theta;
  c.rope_scaling = rope.scaling;
}

}  // namespace

ModelConfig ModelConfig::from_json(const json& j) {
  if (!j.is_object()) throw InvalidInput("config.json: not a JSON object");
  ModelConfig c;
  c.model_type = parse_model_type(j);
  const FamilyDefaults& family = family_defaults(c.model_type);
  reject_unimplemented_fields(j, c.model_type);
  parse_dimensions(j, family, c);
  c.rms_norm_eps = config_number(j, "rms_norm_eps", family.rms_norm_eps);
  if (c.rms_norm_eps <= 0) throw InvalidInput("config.json: field 'rms_norm_eps' must be positive");
  parse_rope_fields(j, family, c);
  c.tie_word_embeddings = config_bool(j, "tie_word_embeddings", family.tie_word_embeddings);
  // Qwen2 always has q/k/v biases; Mistral and Phi-3 never (their configs have no such field).
  c.attention_bias = c.model_type == "qwen2";
  parse_attention_windows(j, c);
  parse_family_features(j, c);
  c.fused_qkv = c.fused_gate_up = c.model_type == "phi3";
  parse_special_tokens(j, c);
  if (auto q = parse_quantization(j)) c.quantization = q;
  return c;
}

ModelConfig ModelConfig::load(const std::filesystem::path& model_folder) {
  const auto path = model_folder / "config.json";
  std::ifstream in(path);
  if (!in) throw InvalidInput(path.string() + ": cannot open (is this a model folder?)");
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e400
    throw InvalidInput(path.string() + ": not valid JSON: " + e.what());
  }
  return from_json(j);
}

json ModelConfig::to_json() const {
  json j = {{"architectures", {architecture_name(model_type)}},
            {"model_type", model_type},
            {"hidden_size", hidden_size},
            {"intermediate_size", intermediate_size},
            {"num_hidden_layers", num_layers},
            {"num_attention_heads", num_heads},
            {"num_key_value_heads", num_kv_heads},
            {"head_dim", head_dim},
            {"vocab_size", vocab_size},
            {"max_position_embeddings", max_position_embeddings},
            {"rms_norm_eps", rms_norm_eps},
            {"rope_theta", rope_theta},
            {"tie_word_embeddings", tie_word_embeddings},
            {"attention_bias", attention_bias},
            {"hidden_act", "silu"},
            {"torch_dtype", "float32"}};
  if (model_type != "llama") put_attention_windows(*this, j);
  put_family_features(*this, j);
  switch (rope_scaling.type) {
    case RopeScaling::Type::kNone: j["rope_scaling"] = nullptr; break;
    case RopeScaling::Type::kLinear: j["rope_scaling"] = {{"type", "linear"}, {"factor", rope_scaling.factor}}; break;
    case RopeScaling::Type::kLlama3:
      j["rope_scaling"] = {{"rope_type", "llama3"},
                           {"factor", rope_scaling.factor},
                           {"low_freq_factor", rope_scaling.low_freq_factor},
                           {"high_freq_factor", rope_scaling.high_freq_factor},
                           {"original_max_position_embeddings", rope_scaling.original_max_position_embeddings}};
      break;
  }
  if (bos_token_id) j["bos_token_id"] = *bos_token_id;
  if (eos_token_ids.size() == 1) j["eos_token_id"] = eos_token_ids[0];
  if (eos_token_ids.size() > 1) j["eos_token_id"] = eos_token_ids;
  if (quantization) {
    j["quantization"] = {{"bits", quantization->bits},
                         {"group_size", quantization->group_size},
                         {"mode", quantization->mode == QuantizationConfig::Mode::kNf4 ? "nf4" : "affine"}};
  }
  return j;
}

int64_t ModelConfig::parameter_count() const {
  const int64_t h = hidden_size, q = int64_t{num_heads} * head_dim, kv = int64_t{num_kv_heads} * head_dim;
  int64_t per_layer = h * q + 2 * h * kv + q * h + 3 * h * intermediate_size + 2 * h;
  if (attention_bias) per_layer += q + 2 * kv;
  if (qk_norm) per_layer += 2 * int64_t{head_dim};
  if (sandwich_norms) per_layer += 2 * h;
  int64_t total = per_layer * num_layers + int64_t{vocab_size} * h + h;
  if (!tie_word_embeddings) total += int64_t{vocab_size} * h;
  return total;
}

int ModelConfig::attention_window(int layer) const {
  if (sliding_window <= 0) return 0;
  if (sliding_layers.empty()) return sliding_window;
  return sliding_layers.at(static_cast<std::size_t>(layer)) ? sliding_window : 0;
}

bool ModelConfig::uses_rope(int layer) const {
  return rope_layers.empty() || rope_layers.at(static_cast<std::size_t>(layer));
}

float ModelConfig::attention_scale() const {
  return static_cast<float>(1.0 / std::sqrt(query_pre_attn_scalar > 0 ? query_pre_attn_scalar : double(head_dim)));
}

ModelConfig preset_config(const std::string& name) {
  ModelConfig c;
  c.model_type = "llama";
  c.max_position_embeddings = 512;
  c.tie_word_embeddings = true;
  if (name == "tiny") {
    c.hidden_size = 32; c.intermediate_size = 64; c.num_layers = 2; c.num_heads = 4; c.num_kv_heads = 2;
    c.vocab_size = 64;
  } else if (name == "small") {
    c.hidden_size = 288; c.intermediate_size = 768; c.num_layers = 6; c.num_heads = 6; c.num_kv_heads = 6;
    c.vocab_size = 32000;
  } else if (name == "medium") {
    c.hidden_size = 768; c.intermediate_size = 2048; c.num_layers = 12; c.num_heads = 12; c.num_kv_heads = 4;
    c.vocab_size = 32000;
  } else {
    throw InvalidInput("unknown preset '" + name + "'; known: tiny, small, medium");
  }
  c.head_dim = c.hidden_size / c.num_heads;
  c.bos_token_id = 1;
  c.eos_token_ids = {2};
  return c;
}

}  // namespace lorafarm::engine
