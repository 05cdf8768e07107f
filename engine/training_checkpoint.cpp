// Saving and restoring a training loop's state (engine/training_checkpoint.h).
#include "engine/training_checkpoint.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>

#include "engine/error.h"
#include "engine/safetensors.h"

namespace lorafarm::engine {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kFormat = "lorafarm-checkpoint/1";
constexpr const char* kStateKey = "lorafarm_training_state";

std::string state_file_name(int64_t step) {
  char name[64];
  std::snprintf(name, sizeof name, "training_state-%09lld.safetensors", static_cast<long long>(step));
  return name;
}

void write_text_atomically(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) throw InvalidInput("cannot write " + tmp.string());
  }
  fs::rename(tmp, path);
}

// The tensors of a checkpoint: each trainable value and its two AdamW moments.
std::map<std::string, TensorData> state_tensors(const TrainingLoopState& s) {
  std::map<std::string, TensorData> tensors;
  const auto& m = s.optimizer.first_moments();
  const auto& v = s.optimizer.second_moments();
  for (std::size_t i = 0; i < s.params.size(); ++i) {
    const ParamRef& p = s.params[i];
    tensors["value/" + p.name] = TensorData::from_floats(p.shape, p.values());
    tensors["adam_m/" + p.name] = TensorData::from_floats(p.shape, m.at(i));
    tensors["adam_v/" + p.name] = TensorData::from_floats(p.shape, v.at(i));
  }
  return tensors;
}

json read_manifest(const fs::path& folder) {
  const fs::path path = folder / kCheckpointManifest;
  std::ifstream in(path);
  if (!in) throw InvalidInput("no training checkpoint in " + folder.string() + ": " + path.string() + " is missing");
  json manifest;
  try {
    manifest = json::parse(in);
  } catch (const json::exception& e) {
    throw InvalidInput(path.string() + ": not a checkpoint manifest (" + e.what() + ")");
  }
  if (!manifest.is_object() || manifest.value("format", "") != kFormat || !manifest.contains("state_file") ||
      !manifest["state_file"].is_string() || !manifest.contains("bytes") || !manifest.contains("checksum"))
    throw InvalidInput(path.string() + ": not a " + std::string(kFormat) + " manifest");
  const auto name = manifest["state_file"].get<std::string>();
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
    throw InvalidInput(path.string() + ": state_file must be a file name in the checkpoint folder");
  return manifest;
}

// The state file the manifest names, checked against its size and checksum.
fs::path verified_state_file(const fs::path& folder, const json& manifest) {
  const fs::path path = folder / manifest["state_file"].get<std::string>();
  std::error_code ec;
  const auto bytes = fs::file_size(path, ec);
  if (ec) throw InvalidInput(path.string() + ": the checkpoint's state file is missing");
  const auto expected = manifest["bytes"].get<std::uintmax_t>();
  if (bytes != expected)
    throw InvalidInput(path.string() + ": truncated or altered checkpoint (" + std::to_string(bytes) + " bytes, the manifest says " +
                       std::to_string(expected) + ")");
  if (file_checksum(path) != manifest["checksum"].get<std::string>())
    throw InvalidInput(path.string() + ": corrupt checkpoint (its checksum differs from the manifest's)");
  return path;
}

void copy_tensor(const SafetensorsFile& file, const std::string& name, std::span<float> into) {
  const TensorView& t = file.tensor(name);
  if (t.dtype != DType::kF32 || t.num_elements() != static_cast<int64_t>(into.size()))
    throw InvalidInput(file.path().string() + ": tensor '" + name + "' does not fit the model being trained (" +
                       std::to_string(t.num_elements()) + " values, expected " + std::to_string(into.size()) + ")");
  std::memcpy(into.data(), t.bytes.data(), into.size() * sizeof(float));
}

void restore_tensors(const SafetensorsFile& file, const TrainingLoopState& s) {
  if (file.tensors().size() != 3 * s.params.size())
    throw InvalidInput(file.path().string() + ": the checkpoint has " + std::to_string(file.tensors().size() / 3) +
                       " trainable tensors, the model being trained " + std::to_string(s.params.size()));
  auto& m = s.optimizer.first_moments();
  auto& v = s.optimizer.second_moments();
  for (std::size_t i = 0; i < s.params.size(); ++i) {
    const ParamRef& p = s.params[i];
    copy_tensor(file, "value/" + p.name, p.values());
    copy_tensor(file, "adam_m/" + p.name, m.at(i));
    copy_tensor(file, "adam_v/" + p.name, v.at(i));
  }
}

// The first key whose value differs between two run identities ("" when equal).
std::string first_difference(const json& saved, const json& now) {
  for (const auto& [key, value] : now.items())
    if (!saved.contains(key) || saved[key] != value) return key;
  for (const auto& [key, value] : saved.items())
    if (!now.contains(key)) return key;
  return "";
}

void restore_counters(const fs::path& path, const json& state, const TrainingLoopState& s) {
  s.optimizer.set_step_count(state.at("adam_step").get<int64_t>());
  if (s.nested) s.nested->restore_uses(state.at("nested_uses").get<std::vector<int64_t>>());
  if (s.stream.taken() != 0) throw InvalidInput("a training checkpoint is restored before the first batch");
  s.stream.skip(state.at("data_batches").get<int64_t>());
  if (s.stream.rng_state() != state.at("data_rng").get<std::string>())
    throw InvalidInput(path.string() + ": the training data differ from the checkpoint's (the batch order does not match)");
  s.step_losses = state.at("step_losses").get<std::vector<double>>();
  s.trained_tokens = state.at("trained_tokens").get<int64_t>();
}

// The state json a checked checkpoint's state file carries.
json state_of(const SafetensorsFile& file) {
  const auto it = file.metadata().find(kStateKey);
  if (it == file.metadata().end())
    throw InvalidInput(file.path().string() + ": not a lorafarm training state (no " + kStateKey + ")");
  try {
    return json::parse(it->second);
  } catch (const json::exception& e) {
    throw InvalidInput(file.path().string() + ": unreadable training state (" + e.what() + ")");
  }
}

}  // namespace

std::string file_checksum(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InvalidInput("cannot read " + path.string());
  uint64_t hash = 0xcbf29ce484222325ull;
  std::vector<char> buffer(1 << 16);
  while (in.read(buffer.data(), static_cast<std::streamsize>(buffer.size())) || in.gcount() > 0) {
    for (std::streamsize i = 0; i < in.gcount(); ++i) {
      hash ^= static_cast<unsigned char>(buffer[static_cast<std::size_t>(i)]);
      hash *= 0x100000001b3ull;
    }
  }
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(hash));
  return text;
}

void save_training_checkpoint(const fs::path& folder, int64_t step, const TrainingLoopState& s, const json& run) {
  fs::create_directories(folder);
  std::optional<std::string> previous;
  if (has_training_checkpoint(folder)) previous = read_manifest(folder)["state_file"].get<std::string>();
  json state{{"step", step},
             {"adam_step", s.optimizer.step_count()},
             {"nested_uses", s.nested ? s.nested->all_uses() : std::vector<int64_t>{}},
             {"data_batches", s.stream.taken()},
             {"data_rng", s.stream.rng_state()},
             {"step_losses", s.step_losses},
             {"trained_tokens", s.trained_tokens},
             {"run", run}};
  const std::string name = state_file_name(step);
  const fs::path path = folder / name;
  write_safetensors(path, state_tensors(s), {{kStateKey, state.dump()}});
  const json manifest{{"format", kFormat}, {"step", step}, {"state_file", name},
                      {"bytes", fs::file_size(path)}, {"checksum", file_checksum(path)}};
  write_text_atomically(folder / kCheckpointManifest, manifest.dump(2) + "\n");
  std::error_code ec;
  if (previous && *previous != name) fs::remove(folder / *previous, ec);
}

bool has_training_checkpoint(const fs::path& folder) { return fs::is_regular_file(folder / kCheckpointManifest); }

json training_checkpoint_run(const fs::path& folder) {
  const SafetensorsFile file = SafetensorsFile::open(verified_state_file(folder, read_manifest(folder)));
  const json state = state_of(file);
  if (!state.contains("run") || !state["run"].is_object())
    throw InvalidInput(file.path().string() + ": the training state names no run config");
  return state["run"];
}

int64_t load_training_checkpoint(const fs::path& folder, const TrainingLoopState& s, const json& run) {
  const json manifest = read_manifest(folder);
  const fs::path path = verified_state_file(folder, manifest);
  const SafetensorsFile file = SafetensorsFile::open(path);
  const json state = state_of(file);
  try {
    if (const auto key = first_difference(state.at("run"), run); !key.empty())
      throw InvalidInput(path.string() + ": the checkpoint is of another run (its '" + key +
                         "' differs from this run's); resume with the same training config");
    restore_tensors(file, s);
    restore_counters(path, state, s);
    return state.at("step").get<int64_t>();
  } catch (const json::exception& e) {
    throw InvalidInput(path.string() + ": unreadable training state (" + e.what() + ")");
  }
}

}  // namespace lorafarm::engine
