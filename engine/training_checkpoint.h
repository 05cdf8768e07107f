// Training checkpoints: everything a run needs to continue exactly where it
// stood (trainable values, AdamW moments and step, nested-rank step counts,
// the data stream's position and generator state, the losses so far), in one
// folder that a resumed run, on any machine, reads back. docs/training.md,
// "Checkpoints and resuming".
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <span>
#include <vector>

#include "engine/batch_order.h"
#include "engine/dynamic_rank.h"
#include "engine/optimizer.h"
#include "engine/parameter.h"

namespace lorafarm::engine {

// The parts of a running training loop that a checkpoint saves and restores.
struct TrainingLoopState {
  std::span<const ParamRef> params;
  AdamW& optimizer;
  BatchOrder& stream;
  NestedRankStep* nested = nullptr;  // dynamic rank only
  std::vector<double>& step_losses;  // one per optimizer step so far
  int64_t& trained_tokens;
};

// The manifest a checkpoint folder holds; written last, so a folder without
// it (or with an older one) never names a half-written state file.
inline constexpr const char* kCheckpointManifest = "checkpoint.json";

// Writes the state after `step` into `folder` (training_state-<step>.safetensors,
// then the manifest, then the previous state file is removed). `run` is the
// training config's identity (TrainConfig::to_json): a resume must match it.
void save_training_checkpoint(const std::filesystem::path& folder, int64_t step, const TrainingLoopState& state,
                              const nlohmann::json& run);

// Whether `folder` holds a checkpoint manifest.
bool has_training_checkpoint(const std::filesystem::path& folder);

// Restores the state saved in `folder` and returns its step. A missing,
// truncated or corrupt file, another run's checkpoint, or other data is an
// InvalidInput naming the file.
int64_t load_training_checkpoint(const std::filesystem::path& folder, const TrainingLoopState& state, const nlohmann::json& run);

// The training config (`run`) the checkpoint in `folder` was saved with,
// after the same checks of its files as load_training_checkpoint.
nlohmann::json training_checkpoint_run(const std::filesystem::path& folder);

// FNV-1a (64 bit) of a file's bytes, 16 hex digits: the manifest's check
// against truncation and bit rot (the engine does not link a SHA library).
std::string file_checksum(const std::filesystem::path& path);

}  // namespace lorafarm::engine
