// Writing a plain Hugging Face model folder (config.json, model.safetensors,
// tokenizer files) from an in-memory model: what `lorafarm fuse` produces.
#pragma once

#include <filesystem>

#include "engine/model.h"

namespace lorafarm::engine {

// Writes `model` as float32 HF weights into `out` (created), with the
// config.json of `source` (its `quantization` block dropped) and its
// tokenizer files copied, so the folder loads like any HF model.
void save_model_folder(const Model& model, const std::filesystem::path& source, const std::filesystem::path& out);

}  // namespace lorafarm::engine
