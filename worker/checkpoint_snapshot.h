// A trial's checkpoint folder, frozen when the trial says a checkpoint is
// complete (a stdout line {"checkpoint_step": N}): its files are hard-linked
// (copied where links fail) into <trial folder>/checkpoints/step-<N>/ and
// hashed, so the copy that travels home is the one the trial announced even
// while it writes the next. Files named *.tmp are left out (being written). docs/sweep-spec.md, "Checkpoints".
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace lorafarm::worker {

// N of a {"checkpoint_step": N} line (N >= 0), else nullopt.
std::optional<std::int64_t> checkpoint_step_of(std::string_view line);

// Links (or copies) the files of `folder` into `into` as they are at this
// moment; returns their names (relative), or nullopt when the folder is empty
// or kept changing. Fast: call it when the checkpoint is announced.
std::optional<std::vector<std::string>> freeze_checkpoint(const std::filesystem::path& folder, const std::filesystem::path& into);
// The frozen files as a CHECKPOINT message lists them, hashed (slow for big
// files: the worker runs it off its event loop). Nullopt if one is unreadable.
std::optional<nlohmann::json> describe_frozen(const std::filesystem::path& into, const std::vector<std::string>& names);

// Both: freezes `folder` into `into` and returns its files as a CHECKPOINT message
// lists them ([{name, path, sha256, bytes}]); nullopt when the folder is
// empty or kept changing while it was frozen (the trial's next checkpoint
// ships instead).
std::optional<nlohmann::json> snapshot_checkpoint(const std::filesystem::path& folder, const std::filesystem::path& into);

// N when `file` lies in a frozen checkpoint <frozen>/step-N/, else nullopt.
std::optional<std::int64_t> frozen_step_of(const std::filesystem::path& frozen, const std::filesystem::path& file);

// Deletes the frozen checkpoints <frozen>/step-N with N < below_step, except
// the steps in `busy` (still being hashed), once the coordinator says a later
// one is home (RELEASE). Returns the steps it removed.
std::vector<std::int64_t> remove_frozen_below(const std::filesystem::path& frozen, std::int64_t below_step,
                                              const std::set<std::int64_t>& busy);

}  // namespace lorafarm::worker
