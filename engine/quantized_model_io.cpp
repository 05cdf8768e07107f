// Building, saving and loading quantized models; tensor names follow the HF
// checkpoint, with mlx-lm's `.scales`/`.biases` siblings for affine weights
// and bitsandbytes' `.weight.absmax`/`.weight.nested_absmax` for nf4.
#include "engine/quantized_model_io.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <optional>
#include <random>

#include "engine/error.h"
#include "engine/safetensors.h"

namespace lorafarm::engine {
namespace {

using Mode = QuantizationConfig::Mode;

constexpr int64_t kNestedBlock = 256;

const TensorView& checked(const Checkpoint& checkpoint, const std::string& name, const std::vector<int64_t>& shape,
                          DType dtype) {
  const TensorView& view = checkpoint.tensor(name, shape);
  if (view.dtype != dtype) {
    throw InvalidInput("tensor '" + name + "' has dtype " + dtype_name(view.dtype) + ", a quantized model needs " +
                       dtype_name(dtype));
  }
  return view;
}

template <typename T>
std::vector<T> raw_values(const TensorView& view) {
  std::vector<T> out(view.bytes.size() / sizeof(T));
  std::memcpy(out.data(), view.bytes.data(), out.size() * sizeof(T));
  return out;
}

std::pair<int64_t, int64_t> linear_shape(const ModelConfig& c, std::string_view key) {
  const int64_t h = c.hidden_size, q = int64_t{c.num_heads} * c.head_dim, kv = int64_t{c.num_kv_heads} * c.head_dim;
  const int64_t ff = c.intermediate_size;
  if (key == "self_attn.q_proj") return {q, h};
  if (key == "self_attn.k_proj" || key == "self_attn.v_proj") return {kv, h};
  if (key == "self_attn.o_proj") return {h, q};
  if (key == "mlp.gate_proj" || key == "mlp.up_proj") return {ff, h};
  if (key == "mlp.down_proj") return {h, ff};
  throw InvalidInput("unknown linear layer '" + std::string(key) + "'");
}

bool has_bias(const ModelConfig& c, std::string_view key) {
  return c.attention_bias && (key == "self_attn.q_proj" || key == "self_attn.k_proj" || key == "self_attn.v_proj");
}

std::string layer_prefix(int layer) { return "model.layers." + std::to_string(layer) + "."; }

// ---- reading -----------------------------------------------------------------

QuantizedMatrix read_affine(const Checkpoint& ck, const std::string& prefix, int64_t out, int64_t in,
                            const QuantizationConfig& qc) {
  QuantizedMatrix m;
  m.config = qc;
  m.config.mode = Mode::kAffine;
  m.rows = out;
  m.cols = in;
  if (in % qc.group_size != 0) {
    throw InvalidInput("tensor '" + prefix + ".weight' has " + std::to_string(in) +
                       " inputs, not a multiple of the group size " + std::to_string(qc.group_size));
  }
  m.packed = raw_values<uint32_t>(checked(ck, prefix + ".weight", {out, in * qc.bits / 32}, DType::kU32));
  m.scales = ck.tensor(prefix + ".scales", {out, in / qc.group_size}).to_float();
  m.biases = ck.tensor(prefix + ".biases", {out, in / qc.group_size}).to_float();
  return m;
}

QuantizedMatrix read_nf4(const Checkpoint& ck, const std::string& prefix, int64_t out, int64_t in,
                         const QuantizationConfig& qc) {
  QuantizedMatrix m;
  m.config = qc;
  m.rows = out;
  m.cols = in;
  if (in % qc.group_size != 0) {
    throw InvalidInput("tensor '" + prefix + ".weight' has " + std::to_string(in) +
                       " inputs, not a multiple of the block size " + std::to_string(qc.group_size));
  }
  const int64_t blocks = out * (in / qc.group_size);
  m.codes = raw_values<uint8_t>(checked(ck, prefix + ".weight", {out, in / 2}, DType::kU8));
  m.absmax_codes = raw_values<uint8_t>(checked(ck, prefix + ".weight.absmax", {blocks}, DType::kU8));
  m.nested_absmax = raw_values<float>(
      checked(ck, prefix + ".weight.nested_absmax", {(blocks + kNestedBlock - 1) / kNestedBlock}, DType::kF32));
  m.absmax_offset = raw_values<float>(checked(ck, prefix + ".weight.nested_offset", {1}, DType::kF32))[0];
  return m;
}

// A weight that is quantized when the checkpoint holds its constants.
struct StoredWeight {
  std::optional<QuantizedMatrix> quantized;
  Matrix dense;
};

StoredWeight read_weight(const Checkpoint& ck, const std::string& prefix, int64_t out, int64_t in,
                         const QuantizationConfig& qc) {
  StoredWeight w;
  const bool nf4 = qc.mode == Mode::kNf4;
  if (ck.contains(prefix + (nf4 ? ".scales" : ".weight.absmax"))) {
    throw InvalidInput("tensor '" + prefix + ".weight' is stored " + (nf4 ? "affine" : "nf4") +
                       "-quantized but config.json says mode '" + (nf4 ? "nf4" : "affine") + "'");
  }
  if (!nf4 && ck.contains(prefix + ".scales")) {
    w.quantized = read_affine(ck, prefix, out, in, qc);
  } else if (nf4 && ck.contains(prefix + ".weight.absmax")) {
    w.quantized = read_nf4(ck, prefix, out, in, qc);
  } else {
    const std::vector<float> values = ck.tensor(prefix + ".weight", {out, in}).to_float();
    w.dense = Eigen::Map<const Matrix>(values.data(), out, in);
  }
  return w;
}

// Embeddings and the head: float32 in memory even when mlx-lm quantized them.
Matrix read_float_matrix(const Checkpoint& ck, const std::string& prefix, int64_t rows, int64_t cols,
                         const QuantizationConfig& qc) {
  StoredWeight w = read_weight(ck, prefix, rows, cols, qc);
  return w.quantized ? w.quantized->dequantize() : std::move(w.dense);
}

Vector read_vector(const Checkpoint& ck, const std::string& name, int64_t size) {
  const std::vector<float> values = ck.tensor(name, {size}).to_float();
  return Eigen::Map<const Vector>(values.data(), size);
}

// ---- writing -----------------------------------------------------------------

TensorData raw_tensor(DType dtype, std::vector<int64_t> shape, const void* data, std::size_t bytes) {
  TensorData t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.bytes.resize(bytes);
  std::memcpy(t.bytes.data(), data, bytes);
  return t;
}

void put_matrix(std::map<std::string, TensorData>& out, const std::string& name, const Matrix& m) {
  out[name] = TensorData::from_floats({m.rows(), m.cols()}, std::span<const float>(m.data(), m.size()));
}

void put_vector(std::map<std::string, TensorData>& out, const std::string& name, const Vector& v) {
  out[name] = TensorData::from_floats({v.size()}, std::span<const float>(v.data(), v.size()));
}

void put_quantized(std::map<std::string, TensorData>& out, const std::string& prefix, const QuantizedMatrix& m) {
  const int64_t gpr = m.groups_per_row();
  if (m.is_nf4()) {
    out[prefix + ".weight"] = raw_tensor(DType::kU8, {m.rows, m.cols / 2}, m.codes.data(), m.codes.size());
    out[prefix + ".weight.absmax"] =
        raw_tensor(DType::kU8, {static_cast<int64_t>(m.absmax_codes.size())}, m.absmax_codes.data(), m.absmax_codes.size());
    out[prefix + ".weight.nested_absmax"] = TensorData::from_floats({static_cast<int64_t>(m.nested_absmax.size())}, m.nested_absmax);
    out[prefix + ".weight.nested_offset"] = TensorData::from_floats({1}, std::span<const float>(&m.absmax_offset, 1));
    return;
  }
  out[prefix + ".weight"] =
      raw_tensor(DType::kU32, {m.rows, m.cols * m.config.bits / 32}, m.packed.data(), m.packed.size() * sizeof(uint32_t));
  out[prefix + ".scales"] = TensorData::from_floats({m.rows, gpr}, m.scales);
  out[prefix + ".biases"] = TensorData::from_floats({m.rows, gpr}, m.biases);
}

// A fused phi3 projection written as one tensor: the parts stacked by rows.
void put_fused(std::map<std::string, TensorData>& out, const QuantizedModel& qm, int layer, const std::string& name,
               const std::vector<std::string>& keys) {
  std::vector<const QuantizedMatrix*> quantized;
  for (const auto& key : keys) {
    if (const QuantizedMatrix* q = qm.find(layer, key)) quantized.push_back(q);
  }
  if (quantized.size() == keys.size()) {
    put_quantized(out, name, QuantizedMatrix::concat_rows(quantized));
    return;
  }
  std::vector<const Matrix*> parts;
  int64_t rows = 0;
  for (const auto& key : keys) {
    parts.push_back(&block_linear(qm.model.blocks[static_cast<std::size_t>(layer)], key).weight);
    rows += parts.back()->rows();
  }
  Matrix fused(rows, parts.front()->cols());
  int64_t at = 0;
  for (const Matrix* p : parts) {
    fused.middleRows(at, p->rows()) = *p;
    at += p->rows();
  }
  put_matrix(out, name + ".weight", fused);
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  if (!out.flush()) throw InvalidInput("cannot write " + path.string());
}

// Records where a linear's weight lives: packed in `layers`, or float in the Model.
void place_weight(QuantizedModel& qm, int layer, const std::string& key, StoredWeight weight) {
  Linear& linear = block_linear(qm.model.blocks[static_cast<std::size_t>(layer)], key);
  if (weight.quantized) {
    qm.layers[static_cast<std::size_t>(layer)].emplace(key, std::move(*weight.quantized));
    linear.weight = Matrix();
  } else {
    linear.weight = std::move(weight.dense);
    qm.unquantized.push_back(layer_prefix(layer) + key);
  }
}

StoredWeight slice_weight(const StoredWeight& fused, int64_t begin, int64_t count) {
  StoredWeight part;
  if (fused.quantized) part.quantized = fused.quantized->slice_rows(begin, count);
  else part.dense = fused.dense.middleRows(begin, count);
  return part;
}

void require_quantizable_somewhere(const ModelConfig& c, const QuantizationConfig& qc) {
  for (const auto& key : linear_keys()) {
    if (is_quantizable(linear_shape(c, key).second, qc)) return;
  }
  throw InvalidInput("no linear layer can be quantized in groups of " + std::to_string(qc.group_size) +
                     ": the input sizes (hidden_size " + std::to_string(c.hidden_size) + ", intermediate_size " +
                     std::to_string(c.intermediate_size) + ") are not multiples of the group size");
}

}  // namespace

const std::vector<std::string>& linear_keys() {
  static const std::vector<std::string> keys = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                                "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                                                "mlp.down_proj"};
  return keys;
}

Linear& block_linear(DecoderBlock& b, std::string_view key) {
  return const_cast<Linear&>(block_linear(static_cast<const DecoderBlock&>(b), key));
}

const Linear& block_linear(const DecoderBlock& b, std::string_view key) {
  if (key == "self_attn.q_proj") return b.q_proj;
  if (key == "self_attn.k_proj") return b.k_proj;
  if (key == "self_attn.v_proj") return b.v_proj;
  if (key == "self_attn.o_proj") return b.o_proj;
  if (key == "mlp.gate_proj") return b.gate_proj;
  if (key == "mlp.up_proj") return b.up_proj;
  if (key == "mlp.down_proj") return b.down_proj;
  throw InvalidInput("unknown linear layer '" + std::string(key) + "'");
}

const QuantizedMatrix* QuantizedModel::find(int layer, std::string_view key) const {
  if (layer < 0 || static_cast<std::size_t>(layer) >= layers.size()) return nullptr;
  const auto& map = layers[static_cast<std::size_t>(layer)];
  const auto it = map.find(std::string(key));
  return it == map.end() ? nullptr : &it->second;
}

int64_t QuantizedModel::quantized_bytes() const {
  int64_t total = 0;
  for (const auto& layer : layers) {
    for (const auto& [key, m] : layer) total += m.bytes();
  }
  return total;
}

int64_t QuantizedModel::float_bytes() const {
  int64_t floats = model.embed_tokens.size() + model.lm_head.size() + model.final_norm.size();
  for (const auto& b : model.blocks) {
    for (const auto& slot : block_norm_slots(model.config, b)) floats += slot.weight->size();
    for (const auto& key : linear_keys()) {
      const Linear& l = block_linear(b, key);
      floats += l.weight.size() + l.bias.size();
    }
  }
  return floats * static_cast<int64_t>(sizeof(float));
}

namespace {

// A tensor's float dtype (F32 when it is stored quantized or absent).
DType stored_float_dtype(const Checkpoint& ck, const std::string& name) {
  if (!ck.contains(name)) return DType::kF32;
  const DType dtype = ck.tensor(name).dtype;
  return dtype == DType::kBF16 || dtype == DType::kF16 ? dtype : DType::kF32;
}

}  // namespace

QuantizedModel quantize_model(Model model, const QuantizationConfig& config) {
  validate_quantization(config);
  require_quantizable_somewhere(model.config, config);
  QuantizedModel qm;
  qm.quantization = config;
  qm.model = std::move(model);
  qm.model.config.quantization = config;
  qm.layers.resize(qm.model.blocks.size());
  for (int i = 0; i < static_cast<int>(qm.model.blocks.size()); ++i) {
    for (const auto& key : linear_keys()) {
      Linear& linear = block_linear(qm.model.blocks[static_cast<std::size_t>(i)], key);
      if (!is_quantizable(linear.in_features(), config)) {
        qm.unquantized.push_back(layer_prefix(i) + key);
        continue;
      }
      qm.layers[static_cast<std::size_t>(i)].emplace(key, QuantizedMatrix::quantize(linear.weight, config));
      linear.weight = Matrix();  // frees the float copy now, so the peak stays low
    }
  }
  return qm;
}

QuantizedModel random_quantized_model(const ModelConfig& config, uint64_t seed, const QuantizationConfig& quantization) {
  validate_quantization(quantization);
  require_quantizable_somewhere(config, quantization);
  QuantizedModel qm;
  qm.quantization = quantization;
  Model& model = qm.model;
  model.config = config;
  model.config.quantization = quantization;
  // The same draws in the same order as Model::random.
  RandomWeights draws(seed);
  auto matrix = [&](int64_t rows, int64_t cols) { return draws.matrix(rows, cols); };
  const int64_t h = config.hidden_size;
  model.embed_tokens = matrix(config.vocab_size, h);
  model.embed_scale = embedding_scale(config, DType::kF32);
  const float unit = config.norm_plus_one ? 0.0f : 1.0f;  // identity norms, as Model::random
  if (!config.tie_word_embeddings) model.lm_head = matrix(config.vocab_size, h);
  qm.layers.resize(static_cast<std::size_t>(config.num_layers));
  model.blocks.resize(static_cast<std::size_t>(config.num_layers));
  for (int i = 0; i < config.num_layers; ++i) {
    DecoderBlock& b = model.blocks[static_cast<std::size_t>(i)];
    for (const NormSlot& slot : block_norm_slots(config, b)) *slot.weight = Vector::Constant(slot.size, unit);
    for (const auto& key : linear_keys()) {
      const auto [out, in] = linear_shape(config, key);
      StoredWeight w;
      w.dense = matrix(out, in);
      if (is_quantizable(in, quantization)) {
        w.quantized = QuantizedMatrix::quantize(w.dense, quantization);
        w.dense = Matrix();
      }
      place_weight(qm, i, key, std::move(w));
      if (has_bias(config, key)) block_linear(b, key).bias = Vector::Zero(out);
    }
  }
  model.final_norm = Vector::Constant(h, unit);
  return qm;
}

QuantizedModel load_quantized_model(const std::filesystem::path& folder) {
  QuantizedModel qm;
  qm.model.config = ModelConfig::load(folder);
  const ModelConfig& c = qm.model.config;
  if (!c.quantization) throw InvalidInput(folder.string() + ": config.json has no 'quantization' block (not a quantized model)");
  qm.quantization = *c.quantization;
  try {
    validate_quantization(qm.quantization);
  } catch (const InvalidInput& e) {
    throw InvalidInput(folder.string() + "/config.json: " + e.what());
  }
  const QuantizationConfig& qc = qm.quantization;
  const Checkpoint ck = Checkpoint::open(folder);
  const int64_t h = c.hidden_size, q = int64_t{c.num_heads} * c.head_dim, kv = int64_t{c.num_kv_heads} * c.head_dim;
  const int64_t ff = c.intermediate_size;
  Model& model = qm.model;
  if (ck.contains("model.embed_tokens.weight")) {
    model.embed_tokens = read_float_matrix(ck, "model.embed_tokens", c.vocab_size, h, qc);
  } else if (c.tie_word_embeddings && ck.contains("lm_head.weight")) {
    model.embed_tokens = read_float_matrix(ck, "lm_head", c.vocab_size, h, qc);
  } else {
    throw InvalidInput("model is missing tensor 'model.embed_tokens.weight'");
  }
  if (!c.tie_word_embeddings) model.lm_head = read_float_matrix(ck, "lm_head", c.vocab_size, h, qc);
  model.embed_scale = embedding_scale(c, stored_float_dtype(ck, c.tie_word_embeddings && !ck.contains("model.embed_tokens.weight")
                                                                  ? "lm_head.weight" : "model.embed_tokens.weight"));
  model.blocks.resize(static_cast<std::size_t>(c.num_layers));
  qm.layers.resize(static_cast<std::size_t>(c.num_layers));
  for (int i = 0; i < c.num_layers; ++i) {
    const std::string p = layer_prefix(i);
    DecoderBlock& b = model.blocks[static_cast<std::size_t>(i)];
    for (const NormSlot& slot : block_norm_slots(c, b)) *slot.weight = read_vector(ck, p + slot.name, slot.size);
    if (c.fused_qkv) {
      const StoredWeight qkv = read_weight(ck, p + "self_attn.qkv_proj", q + 2 * kv, h, qc);
      place_weight(qm, i, "self_attn.q_proj", slice_weight(qkv, 0, q));
      place_weight(qm, i, "self_attn.k_proj", slice_weight(qkv, q, kv));
      place_weight(qm, i, "self_attn.v_proj", slice_weight(qkv, q + kv, kv));
    } else {
      for (const char* key : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"}) {
        const int64_t out = linear_shape(c, key).first;
        place_weight(qm, i, key, read_weight(ck, p + key, out, h, qc));
        if (c.attention_bias) block_linear(b, key).bias = read_vector(ck, p + key + ".bias", out);
      }
    }
    place_weight(qm, i, "self_attn.o_proj", read_weight(ck, p + "self_attn.o_proj", h, q, qc));
    if (c.fused_gate_up) {
      const StoredWeight gate_up = read_weight(ck, p + "mlp.gate_up_proj", 2 * ff, h, qc);
      place_weight(qm, i, "mlp.gate_proj", slice_weight(gate_up, 0, ff));
      place_weight(qm, i, "mlp.up_proj", slice_weight(gate_up, ff, ff));
    } else {
      place_weight(qm, i, "mlp.gate_proj", read_weight(ck, p + "mlp.gate_proj", ff, h, qc));
      place_weight(qm, i, "mlp.up_proj", read_weight(ck, p + "mlp.up_proj", ff, h, qc));
    }
    place_weight(qm, i, "mlp.down_proj", read_weight(ck, p + "mlp.down_proj", h, ff, qc));
  }
  model.final_norm = read_vector(ck, "model.norm.weight", h);
  return qm;
}

void save_quantized_model(const QuantizedModel& qm, const std::filesystem::path& folder) {
  const ModelConfig& c = qm.model.config;
  std::filesystem::create_directories(folder);
  std::map<std::string, TensorData> tensors;
  const Model& model = qm.model;
  put_matrix(tensors, "model.embed_tokens.weight", model.embed_tokens);
  if (!c.tie_word_embeddings) put_matrix(tensors, "lm_head.weight", model.lm_head);
  put_vector(tensors, "model.norm.weight", model.final_norm);
  for (int i = 0; i < static_cast<int>(model.blocks.size()); ++i) {
    const std::string p = layer_prefix(i);
    const DecoderBlock& b = model.blocks[static_cast<std::size_t>(i)];
    for (const auto& slot : block_norm_slots(c, b)) put_vector(tensors, p + slot.name, *slot.weight);
    for (const auto& key : linear_keys()) {
      const bool fused = (c.fused_qkv && key.starts_with("self_attn.") && key != "self_attn.o_proj") ||
                         (c.fused_gate_up && (key == "mlp.gate_proj" || key == "mlp.up_proj"));
      if (fused) continue;
      if (const QuantizedMatrix* q = qm.find(i, key)) put_quantized(tensors, p + key, *q);
      else put_matrix(tensors, p + key + ".weight", block_linear(b, key).weight);
      if (block_linear(b, key).has_bias()) put_vector(tensors, p + key + ".bias", block_linear(b, key).bias);
    }
    if (c.fused_qkv) put_fused(tensors, qm, i, p + "self_attn.qkv_proj", {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"});
    if (c.fused_gate_up) put_fused(tensors, qm, i, p + "mlp.gate_up_proj", {"mlp.gate_proj", "mlp.up_proj"});
  }
  ModelConfig config = c;
  config.quantization = qm.quantization;
  // A stale shard index would take precedence over the file written here.
  std::filesystem::remove(folder / "model.safetensors.index.json");
  write_safetensors(folder / "model.safetensors", tensors, {{"format", "mlx"}});
  nlohmann::json json = config.to_json();
  json["quantization_config"] = json["quantization"];  // mlx-lm writes both
  write_text(folder / "config.json", json.dump(2) + "\n");
}

void copy_tokenizer_files(const std::filesystem::path& from, const std::filesystem::path& to) {
  std::filesystem::create_directories(to);
  for (const char* name : {"tokenizer.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                           "added_tokens.json", "generation_config.json"}) {
    if (std::filesystem::exists(from / name)) {
      std::filesystem::copy_file(from / name, to / name, std::filesystem::copy_options::overwrite_existing);
    }
  }
}

Model dequantize_model(QuantizedModel qm) {
  for (std::size_t i = 0; i < qm.layers.size(); ++i) {
    for (const auto& [key, m] : qm.layers[i]) block_linear(qm.model.blocks[i], key).weight = m.dequantize();
  }
  qm.model.config.quantization.reset();
  return std::move(qm.model);
}

Model load_model_dequantized(const std::filesystem::path& folder) {
  if (ModelConfig::load(folder).quantization) return dequantize_model(load_quantized_model(folder));
  return Model::load(folder, {.keep_16bit = true});
}

}  // namespace lorafarm::engine
