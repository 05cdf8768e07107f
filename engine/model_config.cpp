// config.json parsing and validation.
#include "engine/model_config.h"

#include <fstream>
#include <optional>
#include <string>

#include "engine/error.h"

namespace lorafarm::engine {
namespace {

using nlohmann::json;

int required_int(const json& j, const char* field) {
  if (!j.contains(field) || j[field].is_null()) {
    throw InvalidInput(std::string("config.json: missing required field '") + field + "'");
  }
  if (!j[field].is_number_integer() || j[field].get<int64_t>() <= 0) {
    throw InvalidInput(std::string("config.json: field '") + field + "' must be a positive integer, got " +
                       j[field].dump());
  }
  return j[field].get<int>();
}

double optional_number(const json& j, const char* field, double fallback) {
  if (!j.contains(field) || j[field].is_null()) return fallback;
  if (!j[field].is_number()) {
    throw InvalidInput(std::string("config.json: field '") + field + "' must be a number, got " + j[field].dump());
  }
  return j[field].get<double>();
}

bool optional_bool(const json& j, const char* field, bool fallback) {
  if (!j.contains(field) || j[field].is_null()) return fallback;
  if (!j[field].is_boolean()) {
    throw InvalidInput(std::string("config.json: field '") + field + "' must be true or false, got " +
                       j[field].dump());
  }
  return j[field].get<bool>();
}

RopeScaling parse_rope_scaling(const json& j) {
  RopeScaling scaling;
  if (!j.contains("rope_scaling") || j["rope_scaling"].is_null()) return scaling;
  const json& rs = j["rope_scaling"];
  if (!rs.is_object()) throw InvalidInput("config.json: field 'rope_scaling' must be an object or null");
  std::string type;
  if (rs.contains("rope_type") && rs["rope_type"].is_string()) type = rs["rope_type"];
  else if (rs.contains("type") && rs["type"].is_string()) type = rs["type"];
  if (type == "default") return scaling;
  scaling.factor = optional_number(rs, "factor", 1.0);
  if (type == "linear") {
    scaling.type = RopeScaling::Type::kLinear;
  } else if (type == "llama3") {
    scaling.type = RopeScaling::Type::kLlama3;
    scaling.low_freq_factor = optional_number(rs, "low_freq_factor", 1.0);
    scaling.high_freq_factor = optional_number(rs, "high_freq_factor", 4.0);
    scaling.original_max_position_embeddings = optional_number(rs, "original_max_position_embeddings", 8192);
  } else {
    throw InvalidInput("config.json: field 'rope_scaling.type' is '" + type +
                       "'; supported: linear, llama3 (or null)");
  }
  if (scaling.factor <= 0) throw InvalidInput("config.json: field 'rope_scaling.factor' must be positive");
  return scaling;
}

// model_type (one of the supported architectures) and its activation.
std::string parse_model_type(const json& j) {
  if (!j.contains("model_type") || !j["model_type"].is_string()) {
    throw InvalidInput("config.json: missing required field 'model_type'");
  }
  const std::string type = j["model_type"];
  if (type != "llama" && type != "mistral" && type != "qwen2" && type != "phi3") {
    throw InvalidInput("config.json: field 'model_type' is '" + type + "'; supported: llama, mistral, qwen2, phi3");
  }
  if (j.contains("hidden_act") && j["hidden_act"].is_string() && j["hidden_act"] != "silu") {
    throw InvalidInput("config.json: field 'hidden_act' is '" + j["hidden_act"].get<std::string>() +
                       "'; supported: silu");
  }
  return type;
}

// Sizes, heads and positions.
void parse_dimensions(const json& j, ModelConfig& c) {
  c.hidden_size = required_int(j, "hidden_size");
  c.intermediate_size = required_int(j, "intermediate_size");
  c.num_layers = required_int(j, "num_hidden_layers");
  c.num_heads = required_int(j, "num_attention_heads");
  c.num_kv_heads = j.contains("num_key_value_heads") && !j["num_key_value_heads"].is_null()
                       ? required_int(j, "num_key_value_heads")
                       : c.num_heads;
  c.vocab_size = required_int(j, "vocab_size");
  c.head_dim = j.contains("head_dim") && !j["head_dim"].is_null() ? required_int(j, "head_dim")
                                                                   : c.hidden_size / c.num_heads;
  if (c.num_heads % c.num_kv_heads != 0) {
    throw InvalidInput("config.json: num_attention_heads (" + std::to_string(c.num_heads) +
                       ") must be a multiple of num_key_value_heads (" + std::to_string(c.num_kv_heads) + ")");
  }
  if (c.head_dim % 2 != 0) throw InvalidInput("config.json: head_dim must be even for rotary embeddings");
  c.max_position_embeddings = j.contains("max_position_embeddings") ? required_int(j, "max_position_embeddings") : 2048;
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
  quant.bits = required_int(q, "bits");
  quant.group_size = required_int(q, "group_size");
  const std::string mode = q.value("mode", std::string("affine"));
  if (mode == "affine") quant.mode = QuantizationConfig::Mode::kAffine;
  else if (mode == "nf4") quant.mode = QuantizationConfig::Mode::kNf4;
  else throw InvalidInput("config.json: field 'quantization.mode' is '" + mode + "'; supported: affine, nf4");
  return quant;
}

}  // namespace

ModelConfig ModelConfig::from_json(const json& j) {
  if (!j.is_object()) throw InvalidInput("config.json: not a JSON object");
  ModelConfig c;
  c.model_type = parse_model_type(j);
  parse_dimensions(j, c);
  c.rms_norm_eps = optional_number(j, "rms_norm_eps", 1e-5);
  c.rope_theta = optional_number(j, "rope_theta", 10000.0);
  c.rope_scaling = parse_rope_scaling(j);
  c.tie_word_embeddings = optional_bool(j, "tie_word_embeddings", false);
  c.attention_bias = c.model_type == "qwen2" ? true : optional_bool(j, "attention_bias", false);
  if (c.model_type == "mistral" && j.contains("sliding_window") && !j["sliding_window"].is_null()) {
    c.sliding_window = required_int(j, "sliding_window");
  }
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
  json j = {{"architectures", {"LlamaForCausalLM"}},
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
  if (model_type == "phi3") j["architectures"] = {"Phi3ForCausalLM"};
  if (model_type == "mistral") {
    j["architectures"] = {"MistralForCausalLM"};
    j["sliding_window"] = sliding_window > 0 ? json(sliding_window) : json(nullptr);
  }
  if (model_type == "qwen2") j["architectures"] = {"Qwen2ForCausalLM"};
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
  int64_t total = per_layer * num_layers + int64_t{vocab_size} * h + h;
  if (!tie_word_embeddings) total += int64_t{vocab_size} * h;
  return total;
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
