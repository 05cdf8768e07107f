// Checkpoint resume: a running trial's CHECKPOINT is recorded (an event and
// the attempt's artifacts) and its files come home like any artifact; a new
// attempt of a trial whose worker was lost gets the latest checkpoint that is
// home in its ASSIGN (`resume`) and pulls the files with DOWNLOAD, answered
// chunk by chunk (DOWNLOAD_CHUNK). docs/protocol.md, "Checkpoints".
#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>

#include "coordinator/coordinator_state.h"
#include "schema/base64.h"

namespace lorafarm::coordinator {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

bool has_size(const fs::path& path, std::int64_t bytes) {
  std::error_code ec;
  return fs::is_regular_file(path, ec) && fs::file_size(path, ec) == static_cast<std::uintmax_t>(bytes) && !ec;
}

}  // namespace

// A checkpoint file is here when the store has its content, when its home
// copy exists, or when a local worker wrote it inside the sweep's --workdir.
std::optional<fs::path> Coordinator::State::locate_checkpoint_file(const CheckpointRecord& r, const CheckpointFile& f) const {
  const auto& objects = transfers->objects();
  if (objects.has(f.sha256)) return objects.object_path(f.sha256);
  const fs::path home = schema::home_path(objects.artifact_dir(), spec.name, r.trial, r.attempt, f.path);
  if (has_size(home, f.bytes)) return home;
  if (!options.local_workdir.empty() && schema::is_within(options.local_workdir, f.path) && has_size(f.path, f.bytes)) return fs::path(f.path);
  return std::nullopt;
}

void Coordinator::State::on_checkpoint(const std::string& worker, const json& body) {
  const auto number = body["trial"].get<std::int64_t>();
  const int attempt = body["attempt"].get<int>();
  if (!owns(worker, number, attempt)) {
    spdlog::debug("CHECKPOINT of trial {} attempt {} from {}, which does not hold it: ignored", number, attempt, worker);
    return;
  }
  const auto& trial = trials->trial(number);
  CheckpointRecord record{number, attempt, body["step"].get<std::int64_t>(), worker, {}};
  std::vector<schema::ArtifactRecord> files;
  for (const auto& f : body["files"]) {
    record.files.push_back({f["name"].get<std::string>(), f["path"].get<std::string>(), f["sha256"].get<std::string>(),
                            f["bytes"].get<std::int64_t>()});
    files.push_back({trial.id, attempt, worker, record.files.back().path, record.files.back().sha256, record.files.back().bytes});
    store.insert_artifact(files.back());
  }
  const double wall = schema::unix_now();
  store.insert_event(experiment.id, trial.id, attempt, "CHECKPOINT", record.to_json(), wall);
  spdlog::debug("trial {} attempt {}: checkpoint after step {} ({} files)", number, attempt, record.step, record.files.size());
  plan_artifacts(trial, attempt, files, wall);
  checkpoints->add(std::move(record));
  send_fetches(worker);
  prune_superseded_checkpoints(number);  // its files may all be here already
}

// The ASSIGN's `resume` for a new attempt of `number`, with the event that
// records the step it continues after; null when no checkpoint is home.
json Coordinator::State::resume_for(std::int64_t number, int attempt, const std::string& worker) {
  const CheckpointRecord* r = checkpoints->usable(number);
  if (!r) return nullptr;
  store.insert_event(experiment.id, trials->trial(number).id, attempt, "CHECKPOINT_RESUMED",
                     {{"step", r->step}, {"from_attempt", r->attempt}, {"worker", worker}}, schema::unix_now());
  spdlog::info("trial {} attempt {}: resumes after step {} (checkpoint of attempt {})", number, attempt, r->step, r->attempt);
  return TrialCheckpoints::resume_body(*r);
}

void Coordinator::State::on_download(const std::string& worker, const json& body) {
  const auto sha = body["sha256"].get<std::string>();
  const auto offset = body["offset"].get<std::int64_t>();
  json reply{{"sha256", sha}, {"offset", offset}, {"data", ""}};
  std::optional<fs::path> source;
  for (const auto& [trial, attempt] : leases.find(worker)->trials)
    if (!source) source = checkpoints->source(trial, sha);
  std::error_code ec;
  const auto size = source ? static_cast<std::int64_t>(fs::file_size(*source, ec)) : 0;
  if (!source || ec) {
    reply["error"] = "no checkpoint file with this sha256 for a trial this worker holds";
  } else if (offset > size) {
    reply["error"] = "offset beyond the file's " + std::to_string(size) + " bytes";
  } else {
    std::string chunk(static_cast<std::size_t>(std::min<std::int64_t>(schema::kMaxChunkBytes, size - offset)), '\0');
    std::ifstream in(*source, std::ios::binary);
    in.seekg(offset);
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    if (!in) reply["error"] = "cannot read " + source->string();
    else reply["data"] = schema::base64_encode(chunk);
    reply["bytes"] = size;
  }
  if (reply.contains("error")) spdlog::warn("DOWNLOAD of {} by {}: {}", sha, worker, reply["error"].get<std::string>());
  send(worker, MessageType::DownloadChunk, std::move(reply));
}

// After a restart: the checkpoints recorded so far, less those pruned since.
void Coordinator::State::restore_checkpoints() {
  for (const auto& e : store.events(experiment.id)) {
    if ((e.kind != "CHECKPOINT" && e.kind != "CHECKPOINT_PRUNED") || !e.trial_number || !e.attempt) continue;
    try {
      if (e.kind == "CHECKPOINT_PRUNED") checkpoints->forget(*e.trial_number, *e.attempt, e.detail.at("step").get<std::int64_t>());
      else checkpoints->add(CheckpointRecord::from_event(*e.trial_number, *e.attempt, e.detail));
    } catch (const json::exception& error) {
      spdlog::warn("event {}: unreadable CHECKPOINT record ({}); ignored", e.id, error.what());
    }
  }
}

}  // namespace lorafarm::coordinator
