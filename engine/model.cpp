// Loading LLaMA-family weights from HF names, with shape checks, fused phi3
// projections split and tied embeddings resolved.
#include "engine/model.h"

#include <cmath>
#include <cstring>
#include <map>
#include <random>

#include "engine/error.h"
#include "engine/safetensors.h"

namespace lorafarm::engine {
namespace {

Matrix load_matrix(const Checkpoint& checkpoint, const std::string& name, int64_t rows, int64_t cols) {
  const std::vector<float> values = checkpoint.tensor(name, {rows, cols}).to_float();
  return Eigen::Map<const Matrix>(values.data(), rows, cols);
}

Vector load_vector(const Checkpoint& checkpoint, const std::string& name, int64_t size) {
  const std::vector<float> values = checkpoint.tensor(name, {size}).to_float();
  return Eigen::Map<const Vector>(values.data(), size);
}

Linear load_linear(const Checkpoint& checkpoint, const std::string& prefix, int64_t out, int64_t in, bool bias) {
  Linear linear;
  linear.weight = load_matrix(checkpoint, prefix + ".weight", out, in);
  if (bias) linear.bias = load_vector(checkpoint, prefix + ".bias", out);
  return linear;
}

// Rows [begin, begin + count) of a fused projection as a layer of its own.
Linear slice_rows(const Matrix& fused, Eigen::Index begin, Eigen::Index count) {
  Linear linear;
  linear.weight = fused.middleRows(begin, count);
  return linear;
}

// Rounds to the nearest value with `mantissa` bits (ties to even): bf16 keeps
// 7, fp16 10 (√hidden is well inside fp16's normal range).
float round_mantissa(float value, int mantissa) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  const int drop = 23 - mantissa;
  bits += ((1u << (drop - 1)) - 1) + ((bits >> drop) & 1u);
  bits &= ~((1u << drop) - 1);
  std::memcpy(&value, &bits, sizeof bits);
  return value;
}

}  // namespace

float embedding_scale(const ModelConfig& config, DType dtype) {
  if (!config.scale_embeddings) return 1.0f;
  const auto scale = static_cast<float>(std::sqrt(static_cast<double>(config.hidden_size)));
  if (dtype == DType::kBF16) return round_mantissa(scale, 7);
  if (dtype == DType::kF16) return round_mantissa(scale, 10);
  return scale;
}

namespace {

template <typename Slot, typename Block>
std::vector<Slot> norm_slots_of(const ModelConfig& c, Block& b) {
  std::vector<Slot> slots = {{"input_layernorm.weight", &b.input_norm, c.hidden_size},
                             {mlp_norm_name(c), &b.post_attention_norm, c.hidden_size}};
  if (c.qk_norm) {
    slots.push_back({kQNormName, &b.q_norm, c.head_dim});
    slots.push_back({kKNormName, &b.k_norm, c.head_dim});
  }
  if (c.sandwich_norms) {
    slots.push_back({kAttentionOutNormName, &b.attention_out_norm, c.hidden_size});
    slots.push_back({kMlpOutNormName, &b.mlp_out_norm, c.hidden_size});
  }
  return slots;
}

}  // namespace

std::vector<NormSlot> block_norm_slots(const ModelConfig& c, DecoderBlock& b) {
  return norm_slots_of<NormSlot>(c, b);
}

std::vector<ConstNormSlot> block_norm_slots(const ModelConfig& c, const DecoderBlock& b) {
  return norm_slots_of<ConstNormSlot>(c, b);
}

const char* mlp_norm_name(const ModelConfig& config) {
  return config.sandwich_norms ? "pre_feedforward_layernorm.weight" : "post_attention_layernorm.weight";
}

Model Model::load(const std::filesystem::path& folder) {
  Model model;
  model.config = ModelConfig::load(folder);
  const ModelConfig& c = model.config;
  if (c.quantization) {
    throw InvalidInput(folder.string() + ": quantized checkpoints are loaded by the training engine (QLoRA)");
  }
  const Checkpoint checkpoint = Checkpoint::open(folder);
  const int64_t h = c.hidden_size, q = int64_t{c.num_heads} * c.head_dim, kv = int64_t{c.num_kv_heads} * c.head_dim;
  const int64_t ff = c.intermediate_size;

  // transformers stores only one of a tied pair (TinyStories-656K keeps just lm_head.weight).
  if (checkpoint.contains("model.embed_tokens.weight")) {
    model.embed_tokens = load_matrix(checkpoint, "model.embed_tokens.weight", c.vocab_size, h);
    model.embed_scale = embedding_scale(c, checkpoint.tensor("model.embed_tokens.weight").dtype);
  } else if (c.tie_word_embeddings && checkpoint.contains("lm_head.weight")) {
    model.embed_tokens = load_matrix(checkpoint, "lm_head.weight", c.vocab_size, h);
    model.embed_scale = embedding_scale(c, checkpoint.tensor("lm_head.weight").dtype);
  } else {
    throw InvalidInput("model is missing tensor 'model.embed_tokens.weight'");
  }
  if (!c.tie_word_embeddings) model.lm_head = load_matrix(checkpoint, "lm_head.weight", c.vocab_size, h);

  model.blocks.resize(static_cast<std::size_t>(c.num_layers));
  for (int i = 0; i < c.num_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    DecoderBlock& b = model.blocks[static_cast<std::size_t>(i)];
    for (const NormSlot& slot : block_norm_slots(c, b)) *slot.weight = load_vector(checkpoint, p + slot.name, slot.size);
    if (c.fused_qkv) {
      const Matrix qkv = load_matrix(checkpoint, p + "self_attn.qkv_proj.weight", q + 2 * kv, h);
      b.q_proj = slice_rows(qkv, 0, q);
      b.k_proj = slice_rows(qkv, q, kv);
      b.v_proj = slice_rows(qkv, q + kv, kv);
    } else {
      b.q_proj = load_linear(checkpoint, p + "self_attn.q_proj", q, h, c.attention_bias);
      b.k_proj = load_linear(checkpoint, p + "self_attn.k_proj", kv, h, c.attention_bias);
      b.v_proj = load_linear(checkpoint, p + "self_attn.v_proj", kv, h, c.attention_bias);
    }
    b.o_proj = load_linear(checkpoint, p + "self_attn.o_proj", h, q, false);
    if (c.fused_gate_up) {
      const Matrix gate_up = load_matrix(checkpoint, p + "mlp.gate_up_proj.weight", 2 * ff, h);
      b.gate_proj = slice_rows(gate_up, 0, ff);
      b.up_proj = slice_rows(gate_up, ff, ff);
    } else {
      b.gate_proj = load_linear(checkpoint, p + "mlp.gate_proj", ff, h, false);
      b.up_proj = load_linear(checkpoint, p + "mlp.up_proj", ff, h, false);
    }
    b.down_proj = load_linear(checkpoint, p + "mlp.down_proj", h, ff, false);
  }
  model.final_norm = load_vector(checkpoint, "model.norm.weight", h);
  return model;
}

struct RandomWeights::State {
  std::mt19937_64 rng;
  std::normal_distribution<float> normal{0.0f, 0.02f};
};

RandomWeights::RandomWeights(uint64_t seed) : state_(std::make_unique<State>()) { state_->rng.seed(seed); }
RandomWeights::~RandomWeights() = default;

Matrix RandomWeights::matrix(int64_t rows, int64_t cols) {
  Matrix m(rows, cols);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = state_->normal(state_->rng);
  return m;
}

Model Model::random(const ModelConfig& config, uint64_t seed) {
  Model model;
  model.config = config;
  RandomWeights draws(seed);
  auto matrix = [&](int64_t rows, int64_t cols) { return draws.matrix(rows, cols); };
  auto linear = [&](int64_t out, int64_t in, bool bias) {
    Linear l;
    l.weight = matrix(out, in);
    if (bias) l.bias = Vector::Zero(out);
    return l;
  };
  const int64_t h = config.hidden_size, q = int64_t{config.num_heads} * config.head_dim;
  const int64_t kv = int64_t{config.num_kv_heads} * config.head_dim, ff = config.intermediate_size;
  model.embed_tokens = matrix(config.vocab_size, h);
  model.embed_scale = embedding_scale(config, DType::kF32);
  if (!config.tie_word_embeddings) model.lm_head = matrix(config.vocab_size, h);
  // Norms start as the identity: weight 1, or 0 in Gemma's (1 + w) form.
  const float unit = config.norm_plus_one ? 0.0f : 1.0f;
  for (int i = 0; i < config.num_layers; ++i) {
    DecoderBlock b;
    b.input_norm = Vector::Constant(h, unit);
    b.post_attention_norm = Vector::Constant(h, unit);
    if (config.qk_norm) b.q_norm = b.k_norm = Vector::Constant(config.head_dim, unit);
    if (config.sandwich_norms) b.attention_out_norm = b.mlp_out_norm = Vector::Constant(h, unit);
    b.q_proj = linear(q, h, config.attention_bias);
    b.k_proj = linear(kv, h, config.attention_bias);
    b.v_proj = linear(kv, h, config.attention_bias);
    b.o_proj = linear(h, q, false);
    b.gate_proj = linear(ff, h, false);
    b.up_proj = linear(ff, h, false);
    b.down_proj = linear(h, ff, false);
    model.blocks.push_back(std::move(b));
  }
  model.final_norm = Vector::Constant(h, unit);
  return model;
}

int64_t Model::parameter_count() const { return config.parameter_count(); }

std::vector<std::pair<std::string, int64_t>> checkpoint_bytes_by_dtype(const std::filesystem::path& folder) {
  const Checkpoint checkpoint = Checkpoint::open(folder);
  std::map<std::string, int64_t> bytes;
  for (const auto& name : checkpoint.names()) {
    const TensorView& view = checkpoint.tensor(name);
    bytes[dtype_name(view.dtype)] += static_cast<int64_t>(view.bytes.size());
  }
  return {bytes.begin(), bytes.end()};
}

}  // namespace lorafarm::engine
