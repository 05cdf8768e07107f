// HF folder writer for fused (adapter-merged) models.
#include "engine/fuse.h"

#include <fstream>
#include <map>

#include "engine/error.h"
#include "engine/json_file.h"
#include "engine/safetensors.h"

namespace lorafarm::engine {
namespace {

TensorData matrix_tensor(const Matrix& m) {
  return TensorData::from_floats({m.rows(), m.cols()}, {m.data(), static_cast<std::size_t>(m.size())});
}

TensorData vector_tensor(const Vector& v) {
  return TensorData::from_floats({v.size()}, {v.data(), static_cast<std::size_t>(v.size())});
}

Matrix stack_rows(std::initializer_list<const Matrix*> parts) {
  Eigen::Index rows = 0;
  for (const Matrix* p : parts) rows += p->rows();
  Matrix out(rows, (*parts.begin())->cols());
  Eigen::Index at = 0;
  for (const Matrix* p : parts) {
    out.middleRows(at, p->rows()) = *p;
    at += p->rows();
  }
  return out;
}

}  // namespace

void save_model_folder(const Model& source_model, const std::filesystem::path& source, const std::filesystem::path& out) {
  Model widened;  // a model with 16-bit weights is written as float32, like every fused model
  if (source_model.has_16bit()) {
    widened = source_model;
    widened.widen();
  }
  const Model& model = source_model.has_16bit() ? widened : source_model;
  const ModelConfig& c = model.config;
  std::map<std::string, TensorData> t;
  t["model.embed_tokens.weight"] = matrix_tensor(model.embed_tokens);
  if (!c.tie_word_embeddings) t["lm_head.weight"] = matrix_tensor(model.lm_head);
  t["model.norm.weight"] = vector_tensor(model.final_norm);
  for (int i = 0; i < c.num_layers; ++i) {
    const DecoderBlock& b = model.blocks[static_cast<std::size_t>(i)];
    const std::string p = "model.layers." + std::to_string(i) + ".";
    for (const auto& slot : block_norm_slots(c, b)) t[p + slot.name] = vector_tensor(*slot.weight);
    if (c.fused_qkv) {
      t[p + "self_attn.qkv_proj.weight"] = matrix_tensor(stack_rows({&b.q_proj.weight, &b.k_proj.weight, &b.v_proj.weight}));
    } else {
      t[p + "self_attn.q_proj.weight"] = matrix_tensor(b.q_proj.weight);
      t[p + "self_attn.k_proj.weight"] = matrix_tensor(b.k_proj.weight);
      t[p + "self_attn.v_proj.weight"] = matrix_tensor(b.v_proj.weight);
      if (b.q_proj.has_bias()) {
        t[p + "self_attn.q_proj.bias"] = vector_tensor(b.q_proj.bias);
        t[p + "self_attn.k_proj.bias"] = vector_tensor(b.k_proj.bias);
        t[p + "self_attn.v_proj.bias"] = vector_tensor(b.v_proj.bias);
      }
    }
    t[p + "self_attn.o_proj.weight"] = matrix_tensor(b.o_proj.weight);
    if (c.fused_gate_up) {
      t[p + "mlp.gate_up_proj.weight"] = matrix_tensor(stack_rows({&b.gate_proj.weight, &b.up_proj.weight}));
    } else {
      t[p + "mlp.gate_proj.weight"] = matrix_tensor(b.gate_proj.weight);
      t[p + "mlp.up_proj.weight"] = matrix_tensor(b.up_proj.weight);
    }
    t[p + "mlp.down_proj.weight"] = matrix_tensor(b.down_proj.weight);
  }
  std::filesystem::create_directories(out);
  write_safetensors(out / "model.safetensors", t, {{"format", "pt"}});

  nlohmann::json config = read_json_file(source / "config.json");
  config.erase("quantization");
  config.erase("quantization_config");
  config["torch_dtype"] = "float32";
  std::ofstream(out / "config.json") << config.dump(2) << "\n";
  for (const char* name : {"tokenizer.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                           "generation_config.json"}) {
    if (std::filesystem::exists(source / name)) {
      std::filesystem::copy_file(source / name, out / name, std::filesystem::copy_options::overwrite_existing);
    }
  }
}

}  // namespace lorafarm::engine
