// Loading LLaMA-family weights from HF names, with shape checks, fused phi3
// projections split and tied embeddings resolved.
#include "engine/model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <utility>

#include "engine/error.h"
#include "engine/safetensors.h"

namespace lorafarm::engine {
namespace {

bool is_16bit(DType dtype) { return dtype == DType::kBF16 || dtype == DType::kF16; }

// A (rows, cols) matrix of the checkpoint into `wide` (float32), or into
// `half` when kept 16-bit; the mapped bytes are released after the copy.
void load_matrix(const Checkpoint& checkpoint, const std::string& name, int64_t rows, int64_t cols, bool keep_16bit,
                 Matrix& wide, HalfMatrix& half) {
  const TensorView& view = checkpoint.tensor(name, {rows, cols});
  if (keep_16bit && is_16bit(view.dtype)) {
    half = HalfMatrix::from_tensor(view, rows, cols);
  } else {
    const std::vector<float> values = view.to_float();
    wide = Eigen::Map<const Matrix>(values.data(), rows, cols);
  }
  view.release_pages();
}

Vector load_vector(const Checkpoint& checkpoint, const std::string& name, int64_t size) {
  const std::vector<float> values = checkpoint.tensor(name, {size}).to_float();
  return Eigen::Map<const Vector>(values.data(), size);
}

Linear load_linear(const Checkpoint& checkpoint, const std::string& prefix, int64_t out, int64_t in, bool bias,
                   bool keep_16bit) {
  Linear linear;
  load_matrix(checkpoint, prefix + ".weight", out, in, keep_16bit, linear.weight, linear.half);
  if (bias) linear.bias = load_vector(checkpoint, prefix + ".bias", out);
  return linear;
}

// Rows [begin, begin + count) of a fused projection as a layer of its own.
Linear slice_rows(const Linear& fused, Eigen::Index begin, Eigen::Index count) {
  Linear linear;
  if (fused.is_half()) {
    linear.half = HalfMatrix::from_rows(fused.half, begin, count);
  } else {
    linear.weight = fused.weight.middleRows(begin, count);
  }
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

Model Model::load(const std::filesystem::path& folder, const LoadOptions& options) {
  Model model;
  model.config = ModelConfig::load(folder);
  const ModelConfig& c = model.config;
  if (c.quantization) {
    throw InvalidInput(folder.string() + ": quantized checkpoints are loaded by the training engine (QLoRA)");
  }
  const Checkpoint checkpoint = Checkpoint::open(folder);
  const int64_t h = c.hidden_size, q = int64_t{c.num_heads} * c.head_dim, kv = int64_t{c.num_kv_heads} * c.head_dim;
  const int64_t ff = c.intermediate_size;

  const bool keep = options.keep_16bit;
  // transformers stores only one of a tied pair (TinyStories-656K keeps just lm_head.weight).
  std::string embedding = "model.embed_tokens.weight";
  if (!checkpoint.contains(embedding)) {
    if (!(c.tie_word_embeddings && checkpoint.contains("lm_head.weight"))) {
      throw InvalidInput("model is missing tensor 'model.embed_tokens.weight'");
    }
    embedding = "lm_head.weight";
  }
  load_matrix(checkpoint, embedding, c.vocab_size, h, keep, model.embed_tokens, model.embed_tokens_half);
  model.embed_scale = embedding_scale(c, checkpoint.tensor(embedding).dtype);
  if (!c.tie_word_embeddings) load_matrix(checkpoint, "lm_head.weight", c.vocab_size, h, keep, model.lm_head, model.lm_head_half);

  model.blocks.resize(static_cast<std::size_t>(c.num_layers));
  for (int i = 0; i < c.num_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    DecoderBlock& b = model.blocks[static_cast<std::size_t>(i)];
    for (const NormSlot& slot : block_norm_slots(c, b)) *slot.weight = load_vector(checkpoint, p + slot.name, slot.size);
    if (c.fused_qkv) {
      const Linear qkv = load_linear(checkpoint, p + "self_attn.qkv_proj", q + 2 * kv, h, false, keep);
      b.q_proj = slice_rows(qkv, 0, q);
      b.k_proj = slice_rows(qkv, q, kv);
      b.v_proj = slice_rows(qkv, q + kv, kv);
    } else {
      b.q_proj = load_linear(checkpoint, p + "self_attn.q_proj", q, h, c.attention_bias, keep);
      b.k_proj = load_linear(checkpoint, p + "self_attn.k_proj", kv, h, c.attention_bias, keep);
      b.v_proj = load_linear(checkpoint, p + "self_attn.v_proj", kv, h, c.attention_bias, keep);
    }
    b.o_proj = load_linear(checkpoint, p + "self_attn.o_proj", h, q, false, keep);
    if (c.fused_gate_up) {
      const Linear gate_up = load_linear(checkpoint, p + "mlp.gate_up_proj", 2 * ff, h, false, keep);
      b.gate_proj = slice_rows(gate_up, 0, ff);
      b.up_proj = slice_rows(gate_up, ff, ff);
    } else {
      b.gate_proj = load_linear(checkpoint, p + "mlp.gate_proj", ff, h, false, keep);
      b.up_proj = load_linear(checkpoint, p + "mlp.up_proj", ff, h, false, keep);
    }
    b.down_proj = load_linear(checkpoint, p + "mlp.down_proj", h, ff, false, keep);
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

WeightRef Model::head_weights() const {
  if (config.tie_word_embeddings) return embed_tokens_half.empty() ? WeightRef(embed_tokens) : WeightRef(embed_tokens_half);
  return lm_head_half.empty() ? WeightRef(lm_head) : WeightRef(lm_head_half);
}

void Model::embedding_row(int64_t id, float* out) const {
  if (embed_tokens_half.empty()) {
    std::copy_n(embed_tokens.row(id).data(), embed_tokens.cols(), out);
  } else {
    embed_tokens_half.row_to_float(id, out);
  }
}

bool Model::has_16bit() const {
  if (!embed_tokens_half.empty() || !lm_head_half.empty()) return true;
  for (const DecoderBlock& b : blocks) {
    for (const Linear* l : {&b.q_proj, &b.k_proj, &b.v_proj, &b.o_proj, &b.gate_proj, &b.up_proj, &b.down_proj}) {
      if (l->is_half()) return true;
    }
  }
  return false;
}

void Model::widen() {
  if (!embed_tokens_half.empty()) embed_tokens = std::exchange(embed_tokens_half, HalfMatrix()).to_float();
  if (!lm_head_half.empty()) lm_head = std::exchange(lm_head_half, HalfMatrix()).to_float();
  for (DecoderBlock& b : blocks) {
    for (Linear* l : {&b.q_proj, &b.k_proj, &b.v_proj, &b.o_proj, &b.gate_proj, &b.up_proj, &b.down_proj}) l->widen();
  }
}

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
