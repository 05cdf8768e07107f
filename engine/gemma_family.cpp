// Gemma 2 and Gemma 3 (text) config semantics: the sliding/global layer
// pattern and the switches that set Gemma apart from Llama (docs/models.md).
#include <algorithm>
#include <string>

#include "engine/config_fields.h"
#include "engine/model_family.h"

namespace lorafarm::engine {
namespace {

using nlohmann::json;

// Without layer_types, Gemma 2 alternates sliding and global layers starting
// with a sliding one; Gemma 3 makes every sliding_window_pattern-th layer global.
std::vector<bool> default_gemma_layers(const json& j, const ModelConfig& c) {
  const int pattern = c.model_type == "gemma2"                      ? 2
                      : has_config_field(j, "sliding_window_pattern") ? required_config_int(j, "sliding_window_pattern")
                                                                      : 6;
  std::vector<bool> slides(static_cast<std::size_t>(c.num_layers));
  for (int i = 0; i < c.num_layers; ++i) slides[static_cast<std::size_t>(i)] = (i + 1) % pattern != 0;
  return slides;
}

// A soft-capping field: absent takes the family default, null means none.
double softcap_field(const json& j, const char* field, double absent) {
  if (!j.contains(field)) return absent;
  if (j[field].is_null()) return 0;
  const double cap = required_config_number(j, field);
  if (cap <= 0) config_field_error(field, "must be positive or null, got " + j[field].dump());
  return cap;
}

}  // namespace

bool is_gemma(std::string_view model_type) { return model_type == "gemma2" || model_type == "gemma3_text"; }

void parse_gemma_windows(const json& j, ModelConfig& c) {
  int window = 4096;
  if (j.contains("sliding_window")) window = j["sliding_window"].is_null() ? 0 : required_config_int(j, "sliding_window");
  std::vector<bool> slides =
      has_config_field(j, "layer_types") ? listed_sliding_layers(j, window, c.num_layers) : default_gemma_layers(j, c);
  const auto sliding = std::count(slides.begin(), slides.end(), true);
  if (sliding > 0 && window == 0) config_field_error("sliding_window", "is null but layers use sliding_attention");
  if (sliding == 0) return;
  c.sliding_window = window;
  if (sliding < static_cast<std::ptrdiff_t>(slides.size())) c.sliding_layers = std::move(slides);
}

void parse_gemma_features(const json& j, ModelConfig& c) {
  c.norm_plus_one = c.sandwich_norms = c.scale_embeddings = true;
  c.activation = Activation::kGeluTanh;
  c.query_pre_attn_scalar = config_number(j, "query_pre_attn_scalar", 256.0);
  if (c.query_pre_attn_scalar <= 0) config_field_error("query_pre_attn_scalar", "must be positive");
  const bool gemma2 = c.model_type == "gemma2";
  c.attn_logit_softcapping = softcap_field(j, "attn_logit_softcapping", gemma2 ? 50.0 : 0.0);
  c.final_logit_softcapping = softcap_field(j, "final_logit_softcapping", gemma2 ? 30.0 : 0.0);
  if (gemma2) return;
  c.qk_norm = true;
  if (c.rope_local_theta > 0) return;  // set by the per-layer-type rope_parameters
  c.rope_local_theta = config_number(j, "rope_local_base_freq", 10000.0);
  if (c.rope_local_theta <= 1.0) config_field_error("rope_local_base_freq", "must be a number above 1");
}

void reject_unimplemented_gemma_fields(const json& j) {
  // Gemma's MLP reads hidden_activation; its hidden_act field is not used.
  if (has_config_field(j, "hidden_activation") && j["hidden_activation"] != "gelu_pytorch_tanh") {
    config_field_error("hidden_activation", "is " + j["hidden_activation"].dump() + "; supported: gelu_pytorch_tanh");
  }
  if (config_bool(j, "use_bidirectional_attention", false)) {
    config_field_error("use_bidirectional_attention", "is true; lorafarm computes causal attention only");
  }
}

}  // namespace lorafarm::engine
