// For benches: a random-init preset model written as a bf16 Hugging Face folder.
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "engine/fuse.h"
#include "engine/model.h"
#include "engine/safetensors.h"

namespace lorafarm::bench {

inline uint16_t bf16_bits(float x) {  // round to nearest, ties to even
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  return static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

// Writes `preset` (random weights, seed 1) as dir/bf16 and returns that folder.
inline std::filesystem::path write_bf16_checkpoint(const std::string& preset, const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  using namespace lorafarm::engine;
  const ModelConfig config = preset_config(preset);
  fs::create_directories(dir / "f32");
  nlohmann::json json = config.to_json();
  json["torch_dtype"] = "bfloat16";
  std::ofstream(dir / "f32" / "config.json") << json.dump(2);
  save_model_folder(Model::random(config, 1), dir / "f32", dir / "f32");
  std::map<std::string, TensorData> tensors;
  const SafetensorsFile file = SafetensorsFile::open(dir / "f32" / "model.safetensors");
  for (const auto& [name, view] : file.tensors()) {
    TensorData t{DType::kBF16, view.shape, {}};
    for (float x : view.to_float()) {
      const uint16_t h = bf16_bits(x);
      const auto* bytes = reinterpret_cast<const std::byte*>(&h);
      t.bytes.insert(t.bytes.end(), bytes, bytes + 2);
    }
    tensors[name] = std::move(t);
  }
  fs::create_directories(dir / "bf16");
  write_safetensors(dir / "bf16" / "model.safetensors", tensors);
  fs::copy_file(dir / "f32" / "config.json", dir / "bf16" / "config.json");
  fs::remove_all(dir / "f32");
  return dir / "bf16";
}

}  // namespace lorafarm::bench
