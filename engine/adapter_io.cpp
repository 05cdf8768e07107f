// mlx-lm and PEFT adapter folders: write, read back, and apply with shape and
// base-model checks.
#include "engine/adapter_io.h"

#include <cmath>
#include <fstream>
#include <map>
#include <set>

#include "engine/error.h"
#include "engine/json_file.h"
#include "engine/quantized_model_io.h"
#include "engine/safetensors.h"

namespace lorafarm::engine {
namespace {

constexpr const char* kMlxWeights = "adapters.safetensors";
constexpr const char* kPeftWeights = "adapter_model.safetensors";
constexpr const char* kPeftPrefix = "base_model.model.";
constexpr const char* kFingerprintKey = "lorafarm_base_fingerprint";

std::string short_name(const std::string& module) { return module.substr(module.find('.') + 1); }

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// PEFT name and whether the tensor is stored transposed, for an mlx-lm name.
std::pair<std::string, bool> peft_name(const std::string& mlx) {
  const auto cut = [&](const std::string& suffix) { return mlx.substr(0, mlx.size() - suffix.size()); };
  if (ends_with(mlx, ".lora_a")) return {kPeftPrefix + cut(".lora_a") + ".lora_A.weight", true};
  if (ends_with(mlx, ".lora_b")) return {kPeftPrefix + cut(".lora_b") + ".lora_B.weight", true};
  if (ends_with(mlx, ".m")) return {kPeftPrefix + cut(".m") + ".lora_magnitude_vector", false};
  throw InvalidInput("the PEFT layout holds LoRA/DoRA adapters only, not '" + mlx + "' (save full fine-tuning as mlx)");
}

std::vector<float> transposed(const float* data, int64_t rows, int64_t cols) {
  std::vector<float> out(static_cast<std::size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) out[static_cast<std::size_t>(c * rows + r)] = data[r * cols + c];
  }
  return out;
}

nlohmann::json quantization_json(const QuantizationConfig& q) {
  return {{"bits", q.bits}, {"group_size", q.group_size},
          {"mode", q.mode == QuantizationConfig::Mode::kNf4 ? "nf4" : "affine"}};
}

std::optional<QuantizationConfig> quantization_from(const nlohmann::json& lorafarm) {
  if (!lorafarm.is_object() || !lorafarm.contains("quantization") || lorafarm["quantization"].is_null()) return {};
  const auto& q = lorafarm["quantization"];
  QuantizationConfig out;
  out.bits = q.value("bits", 4);
  out.group_size = q.value("group_size", 64);
  out.mode = q.value("mode", std::string("affine")) == "nf4" ? QuantizationConfig::Mode::kNf4
                                                             : QuantizationConfig::Mode::kAffine;
  return out;
}

std::filesystem::path weights_file(const std::filesystem::path& path) {
  if (!std::filesystem::is_directory(path)) {
    if (!std::filesystem::exists(path)) throw InvalidInput(path.string() + ": no such adapter file");
    return path;
  }
  for (const char* name : {kMlxWeights, kPeftWeights}) {
    if (std::filesystem::exists(path / name)) return path / name;
  }
  throw InvalidInput(path.string() + ": no " + kMlxWeights + " or " + kPeftWeights + " in this adapter folder");
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  const auto tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary);
    out << text;
    if (!out) throw InvalidInput(path.string() + ": cannot write");
  }
  std::filesystem::rename(tmp, path);
}

}  // namespace

AdapterFormat parse_adapter_format(const std::string& name) {
  if (name == "mlx") return AdapterFormat::kMlx;
  if (name == "peft") return AdapterFormat::kPeft;
  throw InvalidInput("adapter format '" + name + "' is not one of mlx, peft");
}

std::string base_fingerprint(const Model& model) { return model_fingerprint(model); }

void save_adapter(const std::filesystem::path& dir, const TrainableModel& model, AdapterFormat format,
                  const nlohmann::json& extra, const std::string& weights_name) {
  std::filesystem::create_directories(dir);
  const AdapterConfig& c = model.config();
  std::map<std::string, TensorData> tensors;
  for (const ParamRef& p : model.parameters()) {
    if (format == AdapterFormat::kMlx) {
      tensors[p.name] = TensorData::from_floats(p.shape, {p.value, static_cast<std::size_t>(p.size)});
      continue;
    }
    const auto [name, transpose] = peft_name(p.name);
    if (transpose) {
      const std::vector<float> t = transposed(p.value, p.shape[0], p.shape[1]);
      tensors[name] = TensorData::from_floats({p.shape[1], p.shape[0]}, t);
    } else {
      tensors[name] = TensorData::from_floats(p.shape, {p.value, static_cast<std::size_t>(p.size)});
    }
  }
  const std::string file = !weights_name.empty() ? weights_name : format == AdapterFormat::kMlx ? kMlxWeights : kPeftWeights;
  write_safetensors(dir / file, tensors, {{kFingerprintKey, model.base_fingerprint()}, {"format", "pt"}});

  nlohmann::json lorafarm = {{"base_fingerprint", model.base_fingerprint()},
                             {"alpha", c.alpha ? nlohmann::json(*c.alpha) : nlohmann::json()},
                             {"rslora", c.rslora},
                             {"quantization", c.quantization ? quantization_json(*c.quantization) : nlohmann::json()}};
  if (c.dynamic_rank) {  // the saved adapter is the whole r_max one; `--rank b` truncates it
    lorafarm["dynamic_rank"] = true;
    lorafarm["rank_ladder"] = rank_ladder(c);
    lorafarm["rank_scale"] = rank_scale_name(c.rank_scale);
    if (c.rank_scale_exponent) lorafarm["rank_scale_exponent"] = *c.rank_scale_exponent;
  }
  std::vector<std::string> keys;
  if (c.type != FineTuneType::kFull) {
    for (Module m : c.modules()) keys.emplace_back(kLinearModules[m]);
  }
  const int blocks = model.model().config.num_layers - model.first_adapted_block();
  nlohmann::json config = extra.is_object() ? extra : nlohmann::json::object();
  if (format == AdapterFormat::kMlx) {
    config["fine_tune_type"] = fine_tune_type_name(c.type);
    config["num_layers"] = blocks;
    config["lora_parameters"] = {{"rank", c.rank}, {"scale", c.effective_scale()}, {"dropout", c.dropout}, {"keys", keys}};
    if (c.dynamic_rank) {
      config["lora_parameters"]["dynamic_rank"] = true;
      config["lora_parameters"]["rank_ladder"] = rank_ladder(c);
      config["lora_parameters"]["rank_scale"] = rank_scale_name(c.rank_scale);
      if (c.rank_scale_exponent) config["lora_parameters"]["rank_scale_exponent"] = *c.rank_scale_exponent;
    }
  } else {
    if (c.type == FineTuneType::kFull) throw InvalidInput("the PEFT layout holds LoRA/DoRA adapters only; use --format mlx");
    std::vector<std::string> targets;
    for (const auto& k : keys) targets.push_back(short_name(k));
    std::vector<int> layers;
    for (int b = model.first_adapted_block(); b < model.model().config.num_layers; ++b) layers.push_back(b);
    // PEFT applies lora_alpha/r: the whole adapter's scale (a prefix's for nested ranks).
    const double alpha = c.alpha ? *c.alpha : static_cast<double>(prefix_scale(c, c.rank)) * c.rank;
    config["peft_type"] = "LORA";
    config["task_type"] = "CAUSAL_LM";
    config["r"] = c.rank;
    config["lora_alpha"] = alpha;
    config["lora_dropout"] = c.dropout;
    config["target_modules"] = targets;
    config["layers_to_transform"] = layers;
    config["use_dora"] = c.type == FineTuneType::kDora;
    config["use_rslora"] = c.alpha ? c.rslora : false;
    config["bias"] = "none";
    config["fan_in_fan_out"] = false;
    // The rest of PEFT's LoraConfig fields, at the values that describe this adapter.
    const bool named_base = config.contains("model") && config["model"].is_string();
    config["base_model_name_or_path"] = named_base ? config["model"] : nlohmann::json();
    config["inference_mode"] = true;
    config["init_lora_weights"] = true;
    config["layers_pattern"] = nullptr;
    config["modules_to_save"] = nullptr;
    config["revision"] = nullptr;
  }
  config["lorafarm"] = lorafarm;
  write_text(dir / "adapter_config.json", config.dump(2) + "\n");
}

AdapterConfig read_adapter_config(const std::filesystem::path& dir) {
  const auto path = dir / "adapter_config.json";
  const nlohmann::json j = read_json_file(path);
  const std::string where = path.string();
  AdapterConfig c;
  const nlohmann::json lorafarm = j.value("lorafarm", nlohmann::json::object());
  c.quantization = quantization_from(lorafarm);
  try {
    if (j.contains("peft_type")) {
      if (j["peft_type"] != "LORA") throw InvalidInput(where + ": peft_type " + j["peft_type"].dump() + " is not LORA");
      c.type = j.value("use_dora", false) ? FineTuneType::kDora : FineTuneType::kLora;
      c.rank = j.at("r").get<int>();
      c.alpha = j.at("lora_alpha").get<float>();
      c.rslora = j.value("use_rslora", false);
      c.dropout = j.value("lora_dropout", 0.0f);
      const auto& targets = j.at("target_modules");
      if (targets.is_array()) c.keys = targets.get<std::vector<std::string>>();  // "all-linear" = all
      if (j.contains("layers_to_transform") && !j["layers_to_transform"].is_null()) {
        const auto layers = j["layers_to_transform"].get<std::vector<int>>();
        for (std::size_t i = 1; i < layers.size(); ++i) {
          if (layers[i] != layers[i - 1] + 1) throw InvalidInput(where + ": layers_to_transform must be consecutive");
        }
        c.num_layers = static_cast<int>(layers.size());
      }
    } else {
      c.type = parse_fine_tune_type(j.value("fine_tune_type", std::string("lora")));
      c.num_layers = j.value("num_layers", -1);
      const auto lp = j.value("lora_parameters", nlohmann::json::object());
      c.rank = lp.value("rank", 8);
      c.scale = lp.value("scale", 20.0f);
      c.dropout = lp.value("dropout", 0.0f);
      if (lp.contains("keys") && lp["keys"].is_array()) c.keys = lp["keys"].get<std::vector<std::string>>();
      if (lorafarm.contains("alpha") && lorafarm["alpha"].is_number()) c.alpha = lorafarm["alpha"].get<float>();
      c.rslora = lorafarm.value("rslora", false);
    }
    // Nested ranks: lora_parameters (mlx-lm layout) or the lorafarm block (both layouts).
    const auto lp = j.value("lora_parameters", nlohmann::json::object());
    const nlohmann::json& from = lp.is_object() && lp.contains("dynamic_rank") ? lp : lorafarm;
    if (from.is_object() && from.value("dynamic_rank", false)) {
      c.dynamic_rank = true;
      if (from.contains("rank_ladder") && from["rank_ladder"].is_array()) {
        c.rank_ladder = from["rank_ladder"].get<std::vector<int>>();
      }
      c.rank_scale = parse_rank_scale(from.value("rank_scale", std::string("dylora")));
      if (from.contains("rank_scale_exponent") && from["rank_scale_exponent"].is_number()) {
        c.rank_scale_exponent = from["rank_scale_exponent"].get<float>();
      }
    }
  } catch (const nlohmann::json::exception& e) {
    throw InvalidInput(where + ": " + e.what());
  }
  return c;
}

void load_adapter_weights(const std::filesystem::path& path, TrainableModel& model) {
  const auto file = weights_file(path);
  const SafetensorsFile weights = SafetensorsFile::open(file);
  const auto fp = weights.metadata().find(kFingerprintKey);
  if (fp != weights.metadata().end() && fp->second != model.base_fingerprint()) {
    throw InvalidInput(file.string() + ": adapter was trained on a different base model (fingerprint " + fp->second +
                       ", this model " + model.base_fingerprint() + ")");
  }
  bool peft = false;
  for (const auto& [name, view] : weights.tensors()) peft |= name.rfind(kPeftPrefix, 0) == 0;
  std::set<std::string> used;
  for (const ParamRef& p : model.parameters()) {
    std::string name = p.name;
    bool transpose = false;
    if (peft) std::tie(name, transpose) = peft_name(p.name);
    if (peft && !weights.contains(name) && ends_with(name, ".lora_magnitude_vector")) name += ".weight";
    if (!weights.contains(name)) {
      throw InvalidInput(file.string() + ": has no tensor '" + name + "' (the adapter was saved for other layers or keys)");
    }
    const TensorView& view = weights.tensor(name);
    std::vector<int64_t> expected = p.shape;
    if (transpose) std::swap(expected[0], expected[1]);
    if (view.shape != expected) {
      throw InvalidInput(file.string() + ": tensor '" + name + "' has shape " + shape_string(view.shape) +
                         ", this model needs " + shape_string(expected));
    }
    std::vector<float> values = view.to_float();
    if (transpose) values = transposed(values.data(), expected[0], expected[1]);
    std::copy(values.begin(), values.end(), p.value);
    used.insert(name);
  }
  for (const auto& [name, view] : weights.tensors()) {
    if (!used.count(name)) {
      throw InvalidInput(file.string() + ": tensor '" + name + "' matches no trainable layer of this configuration");
    }
  }
}

TrainableModel load_adapted_model(Model base, const std::filesystem::path& dir) {
  if (!std::filesystem::is_directory(dir)) throw InvalidInput(dir.string() + ": not an adapter folder");
  const AdapterConfig config = read_adapter_config(dir);
  TrainableModel model(std::move(base), config, 0);
  load_adapter_weights(dir, model);
  return model;
}

TrainableModel load_trainable_model(const std::filesystem::path& model_folder, AdapterConfig config, uint64_t seed) {
  if (!ModelConfig::load(model_folder).quantization) {
    // Frozen bases keep a 16-bit checkpoint's dtype; full fine-tuning widens what it trains.
    const LoadOptions options{.keep_16bit = config.type != FineTuneType::kFull};
    return TrainableModel(Model::load(model_folder, options), config, seed);
  }
  QuantizedModel q = load_quantized_model(model_folder);
  if (config.type == FineTuneType::kFull) {
    throw InvalidInput(model_folder.string() + " is quantized: full fine-tuning needs a float model");
  }
  config.quantization = q.quantization;
  return TrainableModel(std::move(q.model), config, seed, std::move(q.layers));
}

TrainableModel load_adapted_model(const std::filesystem::path& model_folder, const std::filesystem::path& dir) {
  if (!std::filesystem::is_directory(dir)) throw InvalidInput(dir.string() + ": not an adapter folder");
  TrainableModel model = load_trainable_model(model_folder, read_adapter_config(dir), 0);
  load_adapter_weights(dir, model);
  return model;
}

Model load_inference_model(const std::filesystem::path& model_folder, const std::filesystem::path& adapter_dir, int rank) {
  if (adapter_dir.empty()) {
    if (rank != 0) throw InvalidInput("--rank needs --adapter (a nested-rank adapter)");
    return load_model_dequantized(model_folder);
  }
  TrainableModel adapted = load_adapted_model(model_folder, adapter_dir);
  if (rank != 0) adapted.set_active_rank(rank);
  return adapted.merged_model();
}

}  // namespace lorafarm::engine
