// Reading rope_theta / rope_scaling / rope_parameters into one RopeSettings.
#include "engine/rope_config.h"

#include <string>

#include "engine/config_fields.h"
#include "engine/error.h"

namespace lorafarm::engine {
namespace {

using nlohmann::json;

// The object holding the rope type and scaling fields, and its name for errors.
std::pair<json, std::string> rope_object(const json& config) {
  for (const char* name : {"rope_scaling", "rope_parameters"}) {
    if (!has_config_field(config, name)) continue;
    const json& object = config.at(name);
    if (!object.is_object()) config_field_error(name, "must be an object or null, got " + object.dump());
    for (const auto& [key, value] : object.items()) {
      if (value.is_object()) {  // transformers 5's per-layer-type form, e.g. {"full_attention": {...}}
        config_field_error(std::string(name) + "." + key,
                           "holds per-layer-type RoPE parameters, which only gemma3_text reads");
      }
    }
    return {object, name};
  }
  return {json::object(), "rope_parameters"};
}

// The rope type and the key that holds it ("rope_type", or the older "type").
std::pair<std::string, std::string> rope_type(const json& object, const std::string& name) {
  for (const char* key : {"rope_type", "type"}) {
    if (!has_config_field(object, key)) continue;
    if (!object.at(key).is_string()) config_field_error(name + "." + key, "must be a string");
    return {object.at(key).get<std::string>(), name + "." + key};
  }
  return {"default", name + ".rope_type"};
}

// partial_rotary_factor rotates only part of each head; lorafarm rotates all of it.
void reject_partial_rotary(const json& object, const std::string& prefix) {
  if (config_number(object, "partial_rotary_factor", 1.0, prefix) != 1.0) {
    config_field_error(prefix + "partial_rotary_factor",
                       "is " + object.at("partial_rotary_factor").dump() +
                           "; lorafarm rotates whole heads (partial_rotary_factor 1.0) only");
  }
}

RopeScaling scaling_of_type(const json& object, const std::string& name) {
  const std::string prefix = name + ".";
  const auto [type, type_key] = rope_type(object, name);
  RopeScaling scaling;
  if (type == "default") return scaling;
  if (type == "linear") {
    scaling.type = RopeScaling::Type::kLinear;
    scaling.factor = required_config_number(object, "factor", prefix);
  } else if (type == "llama3") {
    scaling.type = RopeScaling::Type::kLlama3;
    scaling.factor = required_config_number(object, "factor", prefix);
    scaling.low_freq_factor = required_config_number(object, "low_freq_factor", prefix);
    scaling.high_freq_factor = required_config_number(object, "high_freq_factor", prefix);
    scaling.original_max_position_embeddings =
        required_config_number(object, "original_max_position_embeddings", prefix);
    if (scaling.high_freq_factor <= scaling.low_freq_factor) {
      config_field_error(prefix + "high_freq_factor", "must exceed low_freq_factor");
    }
  } else {
    config_field_error(type_key, "is '" + type + "'; lorafarm computes RoPE types default, linear and llama3 only");
  }
  if (scaling.factor <= 0) config_field_error(prefix + "factor", "must be positive");
  return scaling;
}

// One rope object (`name` for errors); its base falls back to `fallback_theta`.
RopeSettings parse_rope_object(const json& object, const std::string& name, double fallback_theta) {
  reject_partial_rotary(object, name + ".");
  RopeSettings rope;
  rope.theta = has_config_field(object, "rope_theta") ? required_config_number(object, "rope_theta", name + ".")
                                                      : fallback_theta;
  if (rope.theta <= 1.0) config_field_error(name + ".rope_theta", "must be a number above 1");
  rope.scaling = scaling_of_type(object, name);
  return rope;
}

bool is_per_layer_type(const json& config) {
  if (!has_config_field(config, "rope_parameters") || !config["rope_parameters"].is_object()) return false;
  for (const auto& [key, value] : config["rope_parameters"].items()) {
    if (value.is_object()) return true;
  }
  return false;
}

}  // namespace

RopeSettings parse_rope(const json& config, double default_theta) {
  const auto [object, name] = rope_object(config);
  reject_partial_rotary(config, "");
  const double top_level = config_number(config, "rope_theta", default_theta);
  if (top_level <= 1.0) config_field_error("rope_theta", "must be a number above 1");
  return parse_rope_object(object, name, top_level);
}

std::optional<LayerTypeRope> parse_layer_type_rope(const json& config, double default_full, double default_sliding) {
  if (!is_per_layer_type(config) || has_config_field(config, "rope_scaling")) return std::nullopt;
  const json& all = config["rope_parameters"];
  for (const auto& [key, value] : all.items()) {
    if (key != "full_attention" && key != "sliding_attention") {
      config_field_error("rope_parameters." + key, "is not a layer type; supported: full_attention, sliding_attention");
    }
    if (!value.is_object()) config_field_error("rope_parameters." + key, "must be an object, got " + value.dump());
  }
  reject_partial_rotary(config, "");
  LayerTypeRope rope;
  rope.full = parse_rope_object(all.value("full_attention", json::object()), "rope_parameters.full_attention",
                                default_full);
  const RopeSettings sliding = parse_rope_object(all.value("sliding_attention", json::object()),
                                                 "rope_parameters.sliding_attention", default_sliding);
  if (sliding.scaling.type != RopeScaling::Type::kNone) {
    config_field_error("rope_parameters.sliding_attention.rope_type",
                       "is a scaled RoPE; lorafarm scales the full_attention layers' RoPE only");
  }
  rope.sliding_theta = sliding.theta;
  return rope;
}

}  // namespace lorafarm::engine
