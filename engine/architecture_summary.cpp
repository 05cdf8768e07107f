// The feature list `lorafarm info` prints under the architecture line.
#include "engine/architecture_summary.h"

#include <sstream>

namespace lorafarm::engine {
namespace {

std::string number(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

std::string rope_feature(const ModelConfig& c) {
  std::string rope = "RoPE theta " + number(c.rope_theta);
  if (c.rope_scaling.type == RopeScaling::Type::kLinear) rope += " (linear scaling x" + number(c.rope_scaling.factor) + ")";
  if (c.rope_scaling.type == RopeScaling::Type::kLlama3) rope += " (llama3 scaling x" + number(c.rope_scaling.factor) + ")";
  if (c.rope_local_theta > 0) rope += ", theta " + number(c.rope_local_theta) + " on sliding layers";
  int without = 0;
  for (int layer = 0; layer < c.num_layers; ++layer) without += c.uses_rope(layer) ? 0 : 1;
  if (without > 0) rope += ", none on " + std::to_string(without) + " of " + std::to_string(c.num_layers) + " layers";
  return rope;
}

}  // namespace

std::vector<std::string> architecture_features(const ModelConfig& c) {
  std::vector<std::string> features;
  features.push_back(c.activation == Activation::kGeluTanh ? "GELU-tanh gated MLP" : "SwiGLU MLP");
  features.push_back(c.norm_plus_one ? "RMSNorm (1 + w)" : "RMSNorm");
  if (c.sandwich_norms) features.push_back("norms after attention and MLP outputs");
  if (c.qk_norm) features.push_back("per-head q/k RMSNorm");
  if (c.attention_bias) features.push_back("q/k/v biases");
  if (c.scale_embeddings) features.push_back("embeddings x sqrt(hidden)");
  if (c.query_pre_attn_scalar > 0) features.push_back("scores x " + number(c.query_pre_attn_scalar) + "^-1/2");
  if (c.attn_logit_softcapping > 0) features.push_back("attention soft-cap " + number(c.attn_logit_softcapping));
  if (c.final_logit_softcapping > 0) features.push_back("final logit soft-cap " + number(c.final_logit_softcapping));
  features.push_back(rope_feature(c));
  if (c.sliding_window > 0) {
    int sliding = 0;
    for (int layer = 0; layer < c.num_layers; ++layer) sliding += c.attention_window(layer) > 0 ? 1 : 0;
    features.push_back("sliding window " + std::to_string(c.sliding_window) + " on " + std::to_string(sliding) +
                       " of " + std::to_string(c.num_layers) + " layers");
  }
  return features;
}

}  // namespace lorafarm::engine
