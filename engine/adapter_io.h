// Saving and loading adapters in the two layouts users expect:
//
//  mlx-lm: adapter_config.json (fine_tune_type, num_layers, lora_parameters
//          {rank, scale, dropout, keys}) + adapters.safetensors with
//          model.layers.N.<module>.lora_a [in, r], .lora_b [r, out], DoRA .m [out];
//          full fine-tuning saves every weight under its HF name.
//  PEFT:   adapter_config.json (peft_type LORA, r, lora_alpha, target_modules,
//          use_dora, use_rslora, layers_to_transform, and LoraConfig's other
//          fields: tests/engine/peft_fixture) + adapter_model.safetensors
//          with base_model.model.model.layers.N.<module>.lora_A.weight [r, in],
//          .lora_B.weight [out, r], DoRA .lora_magnitude_vector [out].
//
// Both record a fingerprint of the base model so an adapter cannot silently be
// applied to a different base.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "engine/trainable_model.h"

namespace lorafarm::engine {

enum class AdapterFormat { kMlx, kPeft };
AdapterFormat parse_adapter_format(const std::string& name);

// A stable hash of the base model's embedding and shapes (hex string).
std::string base_fingerprint(const Model& model);

// Writes the adapter of `model` into folder `dir` (created). `extra` is merged
// into adapter_config.json (e.g. the training options). `weights_name`
// overrides the weights file name (checkpoints: "0000100_adapters.safetensors").
void save_adapter(const std::filesystem::path& dir, const TrainableModel& model, AdapterFormat format,
                  const nlohmann::json& extra = {}, const std::string& weights_name = "");

// Reads an adapter folder's config into an AdapterConfig (either layout).
AdapterConfig read_adapter_config(const std::filesystem::path& dir);

// Copies the adapter weights of `path` (a folder, or an mlx-lm / PEFT
// weights file) into `model`, whose adapters must have the same layers and
// shapes; InvalidInput naming the tensor otherwise, or naming the
// fingerprints when the adapter was trained on another base.
void load_adapter_weights(const std::filesystem::path& path, TrainableModel& model);

// The base model with the adapter of folder `dir` applied: for eval/generate/fuse.
TrainableModel load_adapted_model(Model base, const std::filesystem::path& dir);
// The same from a model folder, which may be a quantized one (QLoRA adapters
// then run on its packed weights as in training).
TrainableModel load_adapted_model(const std::filesystem::path& model_folder, const std::filesystem::path& dir);

// What eval and generate run: the base model (dequantized if stored
// quantized), or the base with the adapter of `adapter_dir` merged in,
// truncated to its first `rank` dimensions when rank != 0 (nested-rank
// adapters). An empty `adapter_dir` means no adapter.
Model load_inference_model(const std::filesystem::path& model_folder, const std::filesystem::path& adapter_dir, int rank);

// A model folder prepared for `config`: plain folders load as float (and are
// quantized when config asks for QLoRA); quantized folders keep their packed
// weights (and imply QLoRA).
TrainableModel load_trainable_model(const std::filesystem::path& model_folder, AdapterConfig config, uint64_t seed);

}  // namespace lorafarm::engine
