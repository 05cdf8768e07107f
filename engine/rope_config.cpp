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
                           "holds per-layer-type RoPE parameters, which no supported model_type uses");
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

}  // namespace

RopeSettings parse_rope(const json& config, double default_theta) {
  const auto [object, name] = rope_object(config);
  reject_partial_rotary(config, "");
  reject_partial_rotary(object, name + ".");
  RopeSettings rope;
  rope.theta = has_config_field(object, "rope_theta") ? required_config_number(object, "rope_theta", name + ".")
                                                      : config_number(config, "rope_theta", default_theta);
  if (rope.theta <= 1.0) config_field_error("rope_theta", "must be a number above 1");
  rope.scaling = scaling_of_type(object, name);
  return rope;
}

}  // namespace lorafarm::engine
