// The checkpoints running trials announced (CHECKPOINT), and which one a new
// attempt of a trial resumes from: the latest whose files are all on this
// machine (in the artifact store, or at their home path when a local worker
// wrote them). Internal to the coordinator. docs/protocol.md, "Checkpoints".
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace lorafarm::coordinator {

struct CheckpointFile {
  std::string name;  // relative to the checkpoint folder
  std::string path;  // on the worker that wrote it
  std::string sha256;
  std::int64_t bytes = 0;
};

struct CheckpointRecord {
  std::int64_t trial = 0;  // number within the experiment
  int attempt = 1;
  std::int64_t step = 0;
  std::string worker;
  std::vector<CheckpointFile> files;

  // As the CHECKPOINT event's detail stores it, and back.
  nlohmann::json to_json() const;
  static CheckpointRecord from_event(std::int64_t trial, int attempt, const nlohmann::json& detail);
};

class TrialCheckpoints {
 public:
  // Where a file is readable here (nullopt: not on this machine yet).
  using Locate = std::function<std::optional<std::filesystem::path>(const CheckpointRecord&, const CheckpointFile&)>;
  explicit TrialCheckpoints(Locate locate) : locate_(std::move(locate)) {}

  void add(CheckpointRecord record);
  // The latest checkpoint of `trial` whose files are all here.
  const CheckpointRecord* usable(std::int64_t trial) const;
  // The ASSIGN's `resume` for a checkpoint: {step, attempt, files: [{name, sha256, bytes}]}.
  static nlohmann::json resume_body(const CheckpointRecord& record);
  // Removes and returns the checkpoints of kept.trial older than `kept` (a
  // lower step, or the same step of an earlier attempt): while `kept` is here
  // they are never resumed from.
  std::vector<CheckpointRecord> retire_older(const CheckpointRecord& kept);
  // Removes and returns all of `trial`'s (it has ended for good).
  std::vector<CheckpointRecord> retire_all(std::int64_t trial);
  // Forgets one (its CHECKPOINT_PRUNED event, read back after a restart).
  void forget(std::int64_t trial, int attempt, std::int64_t step);
  // Where the file with this content, of a checkpoint of `trial`, is readable here.
  std::optional<std::filesystem::path> source(std::int64_t trial, const std::string& sha256) const;

 private:
  Locate locate_;
  std::map<std::int64_t, std::vector<CheckpointRecord>> by_trial_;  // each trial's, in order of arrival
};

}  // namespace lorafarm::coordinator
