// Forward with saved activations and the analytic backward of a LLaMA-family
// model, for LoRA, DoRA, QLoRA and full fine-tuning.
#include "engine/trainable_model.h"

#include <malloc.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

#include "engine/error.h"
#include "engine/ops.h"
#include "engine/ops_backward.h"
#include "engine/quantized_base.h"
#include "engine/trainable_block.h"

namespace lorafarm::engine {

namespace {

Linear& module_linear(DecoderBlock& b, Module m) {
  switch (m) {
    case kQ: return b.q_proj;
    case kK: return b.k_proj;
    case kV: return b.v_proj;
    case kO: return b.o_proj;
    case kGate: return b.gate_proj;
    case kUp: return b.up_proj;
    case kDown: return b.down_proj;
  }
  throw InvalidInput("bad module");
}

// (in, out) of a module from the config alone.
std::pair<int64_t, int64_t> module_shape(const ModelConfig& c, Module m) {
  const int64_t h = c.hidden_size, q = int64_t{c.num_heads} * c.head_dim, kv = int64_t{c.num_kv_heads} * c.head_dim;
  switch (m) {
    case kQ: return {h, q};
    case kK:
    case kV: return {h, kv};
    case kO: return {q, h};
    case kGate:
    case kUp: return {h, c.intermediate_size};
    case kDown: return {c.intermediate_size, h};
  }
  return {0, 0};
}

std::string layer_name(int block, Module m) {
  return "model.layers." + std::to_string(block) + "." + kLinearModules[m];
}

int adapted_blocks(const ModelConfig& c, int num_layers) {
  if (num_layers == -1) return c.num_layers;
  if (num_layers < 1 || num_layers > c.num_layers) {
    throw InvalidInput("num_layers " + std::to_string(num_layers) + " is out of range: the model has " +
                       std::to_string(c.num_layers) + " blocks (use 1.." + std::to_string(c.num_layers) +
                       ", or -1 for all)");
  }
  return num_layers;
}

}  // namespace

TrainableModel::TrainableModel(Model model, const AdapterConfig& config, uint64_t seed)
    : model_(std::make_unique<Model>(std::move(model))), config_(config) {
  init(seed, nullptr);
}

TrainableModel::TrainableModel(Model model, const AdapterConfig& config, uint64_t seed,
                               std::vector<std::map<std::string, QuantizedMatrix>> quantized)
    : model_(std::make_unique<Model>(std::move(model))), config_(config) {
  if (!config_.quantization) config_.quantization = quantized.empty() || quantized[0].empty()
                                                        ? QuantizationConfig{}
                                                        : quantized[0].begin()->second.config;
  init(seed, &quantized);
}

namespace {

// Every step frees and re-allocates the same activation buffers. With glibc's
// default (dynamic) thresholds the large ones are mapped afresh or trimmed
// back to the kernel between steps, and page faults took ~25 % of a step's
// CPU time; keep freed memory in the heap for reuse instead.
void keep_freed_memory() {
  static const bool done = [] {
    mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's largest allowed value
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    return true;
  }();
  (void)done;
}

}  // namespace

void TrainableModel::init(uint64_t seed, std::vector<std::map<std::string, QuantizedMatrix>>* prequantized) {
  keep_freed_memory();
  const AdapterConfig& config = config_;
  const ModelConfig& c = model_->config;
  base_fingerprint_ = model_fingerprint(*model_);
  validate_dynamic_rank(config);
  const int adapted = config.type == FineTuneType::kFull ? c.num_layers : adapted_blocks(c, config.num_layers);
  first_block_ = c.num_layers - adapted;
  layers_.reserve(static_cast<std::size_t>(c.num_layers) * 7);
  for (DecoderBlock& b : model_->blocks) {
    for (int m = 0; m < 7; ++m) layers_.emplace_back(module_linear(b, static_cast<Module>(m)));
  }
  if (config.quantization) {
    if (config.type == FineTuneType::kFull) throw InvalidInput("full fine-tuning cannot use a quantized base (qlora)");
    quantize_base(*config.quantization, prequantized);
  }
  if (config.type == FineTuneType::kFull) {
    make_base_trainable();
  } else {
    add_adapters(seed);
  }
  collect_parameters();
}

// Full fine-tuning: every weight trains, with a gradient buffer of its own.
void TrainableModel::make_base_trainable() {
  model_->widen();  // what trains is float32, whatever the checkpoint's dtype
  for (AdaptedLinear& l : layers_) l.make_trainable();
  embed_grad_ = Matrix::Zero(model_->embed_tokens.rows(), model_->embed_tokens.cols());
  if (!model_->config.tie_word_embeddings) head_grad_ = Matrix::Zero(model_->lm_head.rows(), model_->lm_head.cols());
  for (const DecoderBlock& b : model_->blocks) {
    norm_grads_.push_back({Vector::Zero(b.input_norm.size()), Vector::Zero(b.post_attention_norm.size()),
                           Vector::Zero(b.q_norm.size()), Vector::Zero(b.k_norm.size()),
                           Vector::Zero(b.attention_out_norm.size()), Vector::Zero(b.mlp_out_norm.size())});
  }
  final_norm_grad_ = Vector::Zero(model_->final_norm.size());
}

// LoRA/DoRA: adapters on the selected modules of the adapted blocks, drawn from one seeded stream.
void TrainableModel::add_adapters(uint64_t seed) {
  const AdapterConfig& config = config_;
  const ModelConfig& c = model_->config;
  LoraSettings settings;
  settings.rank = config.rank;
  settings.scale = config.effective_scale();
  settings.dropout = config.dropout;
  settings.dora = config.type == FineTuneType::kDora;
  const std::vector<Module> modules = config.modules();
  for (Module m : modules) {
    const auto [in, out] = module_shape(c, m);
    if (config.rank < 1 || config.rank > std::min(in, out)) {
      throw InvalidInput("lora rank " + std::to_string(config.rank) + " is out of range for " + kLinearModules[m] +
                         " (" + std::to_string(in) + " -> " + std::to_string(out) + "): use 1.." +
                         std::to_string(std::min(in, out)));
    }
  }
  std::mt19937_64 rng(seed);
  for (int block = first_block_; block < c.num_layers; ++block) {
    for (Module m : modules) layer(block, m).add_adapter(settings, rng);
  }
  active_rank_ = config.rank;
  if (config.dynamic_rank) {  // the whole adapter at its prefix scale (α/r_max with the dylora rule)
    active_rank_ = 0;
    set_active_rank(config.rank);
  }
}

// Parameters in a fixed order: embedding, blocks, final norm, head.
void TrainableModel::collect_parameters() {
  const ModelConfig& c = model_->config;
  auto add = [&](std::string name, std::vector<int64_t> shape, float* value, float* grad, int64_t size) {
    parameters_.push_back({std::move(name), std::move(shape), value, grad, size});
  };
  const bool full = config_.type == FineTuneType::kFull;
  if (full) {
    Matrix& e = model_->embed_tokens;
    add("model.embed_tokens.weight", {e.rows(), e.cols()}, e.data(), embed_grad_.data(), e.size());
  }
  for (int block = 0; block < c.num_layers; ++block) {
    const std::string prefix = "model.layers." + std::to_string(block) + ".";
    DecoderBlock& b = model_->blocks[static_cast<std::size_t>(block)];
    if (full) {
      NormGrads& g = norm_grads_[static_cast<std::size_t>(block)];
      const ModelConfig& mc = model_->config;
      for (auto [name, weight, grad] : {std::tuple{"input_layernorm.weight", &b.input_norm, &g.input},
                                        std::tuple{mlp_norm_name(mc), &b.post_attention_norm, &g.mlp},
                                        std::tuple{kQNormName, &b.q_norm, &g.q}, std::tuple{kKNormName, &b.k_norm, &g.k},
                                        std::tuple{kAttentionOutNormName, &b.attention_out_norm, &g.attention_out},
                                        std::tuple{kMlpOutNormName, &b.mlp_out_norm, &g.mlp_out}}) {
        if (weight->size() > 0) add(prefix + name, {weight->size()}, weight->data(), grad->data(), weight->size());
      }
    }
    for (int m = 0; m < 7; ++m) layer(block, static_cast<Module>(m)).collect_parameters(prefix + kLinearModules[m], parameters_);
  }
  if (full) {
    Vector& n = model_->final_norm;
    add("model.norm.weight", {n.size()}, n.data(), final_norm_grad_.data(), n.size());
    if (!c.tie_word_embeddings) {
      Matrix& hd = model_->lm_head;
      add("lm_head.weight", {hd.rows(), hd.cols()}, hd.data(), head_grad_.data(), hd.size());
    }
  }
}

void TrainableModel::quantize_base(const QuantizationConfig& q,
                                   std::vector<std::map<std::string, QuantizedMatrix>>* prequantized) {
  for (int block = 0; block < model_->config.num_layers; ++block) {
    for (int m = 0; m < 7; ++m) {
      AdaptedLinear& l = layer(block, static_cast<Module>(m));
      Linear& base = module_linear(model_->blocks[static_cast<std::size_t>(block)], static_cast<Module>(m));
      if (prequantized) {
        auto& packed = (*prequantized)[static_cast<std::size_t>(block)];
        const auto it = packed.find(kLinearModules[m]);
        if (it == packed.end()) {
          unquantized_.push_back(layer_name(block, static_cast<Module>(m)));
        } else {
          l.set_quantized_base(std::make_shared<const QuantizedMatrix>(std::move(it->second)));
        }
        continue;
      }
      if (base.in_features() % q.group_size != 0) {
        unquantized_.push_back(layer_name(block, static_cast<Module>(m)));
        continue;
      }
      l.set_quantized_base(quantize_for_qlora(base.dense_weight(), q));
      base.weight = Matrix();  // the dense copy goes: memory must actually drop
      base.half = HalfMatrix();
    }
  }
  if (unquantized_.size() == layers_.size()) {
    const ModelConfig& c = model_->config;
    throw InvalidInput("qlora: no linear layer can be quantized with group_size " + std::to_string(q.group_size) +
                       " (hidden " + std::to_string(c.hidden_size) + ", intermediate " +
                       std::to_string(c.intermediate_size) + " are not multiples of it)");
  }
}

void TrainableModel::set_active_rank(int b) {
  if (!config_.dynamic_rank) {
    throw InvalidInput("a rank prefix (" + std::to_string(b) + ") needs an adapter trained with dynamic_rank");
  }
  if (b < 1 || b > config_.rank) {
    throw InvalidInput("rank " + std::to_string(b) + " is out of range for this adapter: use 1.." +
                       std::to_string(config_.rank));
  }
  if (b == active_rank_) return;
  const float scale = prefix_scale(config_, b);
  for (AdaptedLinear& l : layers_) {
    if (l.has_adapter()) l.set_active_rank(b, scale);
  }
  active_rank_ = b;
}

int64_t TrainableModel::trainable_params() const {
  int64_t n = 0;
  for (const ParamRef& p : parameters_) n += p.size;
  return n;
}

void TrainableModel::zero_grad() {
  for (const ParamRef& p : parameters_) std::fill(p.grad, p.grad + p.size, 0.0f);
}

Matrix TrainableModel::embed(const std::vector<TokenId>& ids) const {
  const ModelConfig& c = model_->config;
  Matrix x(static_cast<Eigen::Index>(ids.size()), c.hidden_size);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= c.vocab_size) {
      throw InvalidInput("token id " + std::to_string(ids[i]) + " is outside the vocabulary (size " +
                         std::to_string(c.vocab_size) + ")");
    }
    model_->embedding_row(ids[i], x.row(static_cast<Eigen::Index>(i)).data());
  }
  x *= model_->embed_scale;
  return x;
}

TrainableModel::Loss TrainableModel::forward_backward(const TrainBatch& batch, float grad_scale, bool grad_checkpoint,
                                                      uint64_t dropout_seed) {
  const ModelConfig& c = model_->config;
  const bool full = config_.type == FineTuneType::kFull;
  const Context ctx(c, batch);
  Loss result;
  result.tokens = batch.loss_tokens();

  Matrix x = embed(batch.inputs);
  std::vector<BlockCache> caches(static_cast<std::size_t>(c.num_layers - first_block_));
  for (int block = 0; block < c.num_layers; ++block) {
    if (block < first_block_) {
      block_forward(block, ctx, x, nullptr, dropout_seed);
      continue;
    }
    BlockCache& bc = caches[static_cast<std::size_t>(block - first_block_)];
    if (grad_checkpoint) {
      bc.x = x;  // keep only the block input; the rest is recomputed in backward
      block_forward(block, ctx, x, nullptr, dropout_seed);
    } else {
      block_forward(block, ctx, x, &bc, dropout_seed);
    }
  }

  Matrix dx;
  {  // the head and final norm; their buffers go before the blocks' backward
    Matrix normed, d_normed;
    Vector inv;
    block_norm(model_->final_norm, x, normed, &inv);
    Matrix* head_grad = full ? (c.tie_word_embeddings ? &embed_grad_ : &head_grad_) : nullptr;
    result.sum = head_cross_entropy(normed, model_->head_weights(), batch.targets, batch.weights, grad_scale, &d_normed,
                                    head_grad, static_cast<float>(c.final_logit_softcapping));
    block_norm_backward(model_->final_norm, x, inv, d_normed, dx, final_norm_grad_);
    x = Matrix();
  }

  for (int block = c.num_layers - 1; block >= first_block_; --block) {
    BlockCache& bc = caches[static_cast<std::size_t>(block - first_block_)];
    if (grad_checkpoint) {  // one block at a time: keep everything rather than rebuild it again in backward
      Matrix input = bc.x;
      bc.lean = false;
      block_forward(block, ctx, input, &bc, dropout_seed);
    }
    const bool need_dx = full || block > first_block_;
    Matrix d_prev;
    block_backward(block, ctx, bc, dx, need_dx ? &d_prev : nullptr);
    bc = BlockCache();  // release this block's activations now
    dx = std::move(d_prev);
  }
  if (full) embedding_backward(batch.inputs, dx * model_->embed_scale, embed_grad_);
  return result;
}

TrainableModel::Loss TrainableModel::loss(const TrainBatch& batch) const {
  const ModelConfig& c = model_->config;
  const Context ctx(c, batch);
  Matrix x = embed(batch.inputs);
  for (int block = 0; block < c.num_layers; ++block) block_forward(block, ctx, x, nullptr, std::nullopt);
  Matrix normed;
  block_norm(model_->final_norm, x, normed, nullptr);
  Loss result;
  result.tokens = batch.loss_tokens();
  result.sum = head_cross_entropy(normed, model_->head_weights(), batch.targets, batch.weights, 1.0f, nullptr, nullptr,
                                  static_cast<float>(c.final_logit_softcapping));
  return result;
}

std::vector<double> TrainableModel::sequence_losses(const TrainBatch& batch, std::optional<uint64_t> dropout_seed) const {
  const ModelConfig& c = model_->config;
  const Context ctx(c, batch);
  Matrix x = embed(batch.inputs);
  for (int block = 0; block < c.num_layers; ++block) block_forward(block, ctx, x, nullptr, dropout_seed);
  Matrix normed;
  block_norm(model_->final_norm, x, normed, nullptr);
  std::vector<double> out(static_cast<std::size_t>(batch.batch));
  const auto length = static_cast<std::size_t>(batch.length);
  for (std::size_t b = 0; b < out.size(); ++b) {
    const Matrix rows = normed.middleRows(static_cast<Eigen::Index>(b * length), static_cast<Eigen::Index>(length));
    out[b] = head_cross_entropy(rows, model_->head(), std::span(batch.targets).subspan(b * length, length),
                                std::span(batch.weights).subspan(b * length, length), 1.0f, nullptr, nullptr,
                                static_cast<float>(c.final_logit_softcapping));
  }
  return out;
}

void TrainableModel::set_adapters_enabled(bool enabled) {
  for (AdaptedLinear& l : layers_) l.set_adapter_enabled(enabled);
}

Model TrainableModel::merged_model() const {
  Model merged;
  merged.config = model_->config;
  merged.config.quantization.reset();
  merged.embed_tokens = model_->embed_tokens;
  merged.lm_head = model_->lm_head;
  merged.embed_tokens_half = model_->embed_tokens_half;
  merged.lm_head_half = model_->lm_head_half;
  merged.embed_scale = model_->embed_scale;
  merged.final_norm = model_->final_norm;
  merged.blocks = model_->blocks;
  for (int block = 0; block < merged.config.num_layers; ++block) {
    for (int m = 0; m < 7; ++m) {
      const AdaptedLinear& source = layer(block, static_cast<Module>(m));
      if (!source.has_adapter() && !source.quantized()) continue;  // kept as it is (16-bit or not)
      Linear& target = module_linear(merged.blocks[static_cast<std::size_t>(block)], static_cast<Module>(m));
      target.weight = source.merged_weight();
      target.half = HalfMatrix();
    }
  }
  return merged;
}

std::string model_fingerprint(const Model& model) {
  // FNV-1a over the dimensions and the embedding's bytes.
  uint64_t hash = 0xcbf29ce484222325ull;
  auto mix = [&](const void* data, std::size_t n) {
    const auto* bytes = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < n; ++i) hash = (hash ^ bytes[i]) * 0x100000001b3ull;
  };
  const ModelConfig& c = model.config;
  for (int v : {c.hidden_size, c.intermediate_size, c.num_layers, c.num_heads, c.num_kv_heads, c.vocab_size}) {
    mix(&v, sizeof v);
  }
  // The float32 values, whichever form the embedding is kept in.
  std::vector<float> row(static_cast<std::size_t>(c.hidden_size));
  for (int64_t id = 0; id < c.vocab_size; ++id) {
    model.embedding_row(id, row.data());
    mix(row.data(), row.size() * sizeof(float));
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
  return hex;
}

int64_t expected_trainable_params(const ModelConfig& c, const AdapterConfig& config) {
  if (config.type == FineTuneType::kFull) return c.parameter_count();
  const int blocks = adapted_blocks(c, config.num_layers);
  int64_t per_block = 0;
  for (Module m : config.modules()) {
    const auto [in, out] = module_shape(c, m);
    per_block += int64_t{config.rank} * (in + out) + (config.type == FineTuneType::kDora ? out : 0);
  }
  return per_block * blocks;
}

}  // namespace lorafarm::engine
