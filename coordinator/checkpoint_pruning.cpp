// Superseded checkpoints: a trial resumes only from its latest checkpoint
// that is home, so once a running attempt's checkpoint is home the older ones
// of its trial are deleted (store files, home copies, artifact rows; a
// CHECKPOINT_PRUNED event each) and the worker is told to delete its frozen
// copies (RELEASE); a trial that has ended for good needs none of them.
// Without this a long trial keeps every checkpoint twice.
// docs/protocol.md, "Checkpoints".
#include <spdlog/spdlog.h>

#include "coordinator/coordinator_state.h"

namespace lorafarm::coordinator {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The home folder of the checkpoint a file belongs to: its home path less the
// components of its name (<home folder>/.../step-N).
fs::path checkpoint_folder_of(const fs::path& home, const std::string& name) {
  fs::path folder = home;
  const fs::path relative(name);
  for ([[maybe_unused]] const auto& component : relative) folder = folder.parent_path();
  return folder;
}

// Under `root`, not `root` itself.
bool inside(const fs::path& root, const fs::path& path) {
  return schema::is_within(root, path) && path.lexically_normal() != fs::absolute(root).lexically_normal();
}

}  // namespace

void Coordinator::State::prune_superseded_checkpoints(std::int64_t trial) {
  const CheckpointRecord* usable = checkpoints->usable(trial);
  // Only for the attempt that runs now: an earlier attempt's checkpoint may be
  // what a new attempt is still downloading.
  if (!usable || !owns(usable->worker, trial, usable->attempt)) return;
  const CheckpointRecord kept = *usable;
  const auto retired = checkpoints->retire_older(kept);
  if (retired.empty()) return;
  const double wall = schema::unix_now();
  const json why{{"superseded_by", {{"step", kept.step}, {"attempt", kept.attempt}}}};
  for (const auto& old : retired) delete_checkpoint(old, why, wall);
  send(kept.worker, MessageType::Release, {{"trial", trial}, {"attempt", kept.attempt}, {"below_step", kept.step}});
  spdlog::debug("trial {}: {} checkpoint(s) older than step {} deleted", trial, retired.size(), kept.step);
}

// A trial that completed, was pruned, is infeasible or failed its last
// attempt is never resumed: all its checkpoints go (its worker deletes its own
// copies when it gets the ACK).
void Coordinator::State::discard_checkpoints_if_ended(std::int64_t trial) {
  if (!schema::is_final(trials->trial(trial).status)) return;
  const json why{{"trial_ended", schema::to_string(trials->trial(trial).status)}};
  const double wall = schema::unix_now();
  for (const auto& old : checkpoints->retire_all(trial)) delete_checkpoint(old, why, wall);
}

void Coordinator::State::delete_checkpoint(const CheckpointRecord& old, const json& why, double wall) {
  const auto& objects = transfers->objects();
  const fs::path attempt_home = schema::home_folder(objects.artifact_dir(), spec.name, old.trial, old.attempt);
  const auto trial_id = trials->trial(old.trial).id;
  std::int64_t bytes = 0;
  for (const auto& f : old.files) {
    const fs::path home = schema::home_path(objects.artifact_dir(), spec.name, old.trial, old.attempt, f.path);
    transfers->drop_home(f.sha256, home);
    std::error_code ec;
    fs::remove(home, ec);
    const fs::path folder = checkpoint_folder_of(home, f.name);
    if (inside(attempt_home, folder) && folder.filename().string().starts_with("step-")) {
      fs::remove_all(folder, ec);
      // Folders left empty (fs::remove deletes only an empty one).
      for (fs::path up = folder.parent_path(); inside(attempt_home.parent_path(), up); up = up.parent_path())
        if (!fs::remove(up, ec)) break;
    }
    if (objects.has(f.sha256)) objects.remove_if_unlinked(f.sha256);
    store.delete_artifact(trial_id, old.attempt, f.path);
    bytes += f.bytes;
  }
  json detail{{"step", old.step}, {"files", old.files.size()}, {"bytes", bytes}};
  detail.update(why);
  store.insert_event(experiment.id, trial_id, old.attempt, "CHECKPOINT_PRUNED", detail, wall);
}

}  // namespace lorafarm::coordinator
