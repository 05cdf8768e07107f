// Recording announced checkpoints and choosing the one to resume from (coordinator/trial_checkpoints.h).
#include "coordinator/trial_checkpoints.h"

#include <algorithm>
#include <iterator>

namespace lorafarm::coordinator {

using nlohmann::json;

json CheckpointRecord::to_json() const {
  json list = json::array();
  for (const auto& f : files) list.push_back({{"name", f.name}, {"path", f.path}, {"sha256", f.sha256}, {"bytes", f.bytes}});
  return {{"step", step}, {"worker", worker}, {"files", list}};
}

CheckpointRecord CheckpointRecord::from_event(std::int64_t trial, int attempt, const json& detail) {
  CheckpointRecord r{trial, attempt, detail.at("step").get<std::int64_t>(), detail.value("worker", std::string()), {}};
  for (const auto& f : detail.at("files"))
    r.files.push_back({f.at("name").get<std::string>(), f.at("path").get<std::string>(), f.at("sha256").get<std::string>(),
                       f.at("bytes").get<std::int64_t>()});
  return r;
}

void TrialCheckpoints::add(CheckpointRecord record) { by_trial_[record.trial].push_back(std::move(record)); }

const CheckpointRecord* TrialCheckpoints::usable(std::int64_t trial) const {
  const auto it = by_trial_.find(trial);
  if (it == by_trial_.end()) return nullptr;
  const CheckpointRecord* best = nullptr;
  for (const auto& r : it->second) {
    if (best && (r.step < best->step || (r.step == best->step && r.attempt < best->attempt))) continue;
    const bool here = std::all_of(r.files.begin(), r.files.end(), [&](const CheckpointFile& f) { return locate_(r, f).has_value(); });
    if (here) best = &r;
  }
  return best;
}

std::vector<CheckpointRecord> TrialCheckpoints::retire_older(const CheckpointRecord& kept) {
  auto& records = by_trial_[kept.trial];
  const auto newer_or_kept = [&](const CheckpointRecord& r) {
    return r.step > kept.step || (r.step == kept.step && r.attempt >= kept.attempt);
  };
  const auto split = std::stable_partition(records.begin(), records.end(), newer_or_kept);
  std::vector<CheckpointRecord> retired(std::make_move_iterator(split), std::make_move_iterator(records.end()));
  records.erase(split, records.end());
  return retired;
}

std::vector<CheckpointRecord> TrialCheckpoints::retire_all(std::int64_t trial) {
  const auto it = by_trial_.find(trial);
  if (it == by_trial_.end()) return {};
  auto retired = std::move(it->second);
  by_trial_.erase(it);
  return retired;
}

void TrialCheckpoints::forget(std::int64_t trial, int attempt, std::int64_t step) {
  std::erase_if(by_trial_[trial], [&](const CheckpointRecord& r) { return r.attempt == attempt && r.step == step; });
}

json TrialCheckpoints::resume_body(const CheckpointRecord& record) {
  json files = json::array();
  for (const auto& f : record.files) files.push_back({{"name", f.name}, {"sha256", f.sha256}, {"bytes", f.bytes}});
  return {{"step", record.step}, {"attempt", record.attempt}, {"files", files}};
}

std::optional<std::filesystem::path> TrialCheckpoints::source(std::int64_t trial, const std::string& sha256) const {
  const auto it = by_trial_.find(trial);
  if (it == by_trial_.end()) return std::nullopt;
  for (const auto& r : it->second)
    for (const auto& f : r.files)
      if (f.sha256 == sha256)
        if (auto path = locate_(r, f)) return path;
  return std::nullopt;
}

}  // namespace lorafarm::coordinator
