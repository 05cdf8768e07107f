// Artifacts come home: after a RESULT the coordinator asks the worker for the
// files its store lacks (FETCH), appends the chunks the worker sends (UPLOAD)
// at the offset it has, and answers with that offset (UPLOAD_ACK), so a
// transfer resumes wherever it stood after a lost connection or a restart.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "coordinator/coordinator_state.h"
#include "schema/base64.h"

namespace lorafarm::coordinator {

using nlohmann::json;

namespace {

// Seconds without any UPLOAD after which the end of a sweep stops waiting.
constexpr double kArtifactStallSeconds = 30;

const char* plan_name(ArtifactTransfers::Plan plan) {
  switch (plan) {
    case ArtifactTransfers::Plan::AtHome: return "at home";
    case ArtifactTransfers::Plan::Linked: return "linked";
    case ArtifactTransfers::Plan::TooLarge: return "too large";
    case ArtifactTransfers::Plan::Fetch: return "fetch";
  }
  return "?";
}

}  // namespace

// Decides for each artifact of a recorded RESULT whether it travels; files
// above the size limit stay on the worker and an event says so.
void Coordinator::State::plan_artifacts(const schema::TrialRecord& trial, int attempt, const std::vector<schema::ArtifactRecord>& files,
                                        double wall) {
  for (const auto& a : files) {
    const auto plan = transfers->plan(spec.name, trial.number, a);
    spdlog::debug("trial {} attempt {}: {} ({} bytes) {}", trial.number, attempt, a.path, a.bytes, plan_name(plan));
    if (plan == ArtifactTransfers::Plan::TooLarge)
      store.insert_event(experiment.id, trial.id, attempt, "ARTIFACT_TOO_LARGE",
                         {{"worker", a.worker}, {"path", a.path}, {"bytes", a.bytes}, {"max_bytes", transfers->max_bytes()}}, wall);
  }
}

// After a restart: every artifact of the experiment whose content is not home yet.
void Coordinator::State::restore_pending_artifacts() {
  for (const auto& t : store.trials(experiment.id))
    for (const auto& a : store.artifacts(t.id)) transfers->plan(spec.name, t.number, a);
  if (transfers->size() > 0) spdlog::info("{} artifact file(s) still to fetch from their workers", transfers->size());
}

void Coordinator::State::send_fetches(const std::string& worker) {
  for (auto& body : transfers->fetches_for(worker)) send(worker, MessageType::Fetch, std::move(body));
}

void Coordinator::State::on_upload(const std::string& worker, const json& body) {
  last_upload = steady_now();
  const auto sha = body["sha256"].get<std::string>();
  const auto offset = body["offset"].get<std::int64_t>();
  const PendingFile* file = transfers->pending(sha);
  if (!file || file->worker != worker) {
    send(worker, MessageType::UploadAck, {{"sha256", sha}, {"offset", 0}, {"error", "not requested from this worker"}});
    return;
  }
  const double wall = schema::unix_now();
  if (body.contains("error")) {
    store.insert_event(experiment.id, file->trial_id, file->attempt, "ARTIFACT_UNAVAILABLE",
                       {{"worker", worker}, {"path", file->path}, {"sha256", sha}, {"error", body["error"]}}, wall);
    spdlog::warn("worker {} cannot send {}: {}", worker, file->path, body["error"].get<std::string>());
    return transfers->forget(sha);
  }
  const auto data = schema::base64_decode(body["data"].get_ref<const std::string&>());
  if (!data) return drop(worker, "UPLOAD.data: not base64");
  if (data->empty() && offset == 0) {
    // A probe opens each transfer: a partial upload here means it resumes.
    if (const auto have = transfers->objects().received(sha); have > 0) {
      store.insert_event(experiment.id, file->trial_id, file->attempt, "ARTIFACT_RESUMED",
                         {{"worker", worker}, {"path", file->path}, {"sha256", sha}, {"offset", have}, {"bytes", file->bytes}}, wall);
      spdlog::info("artifact {} from {}: resuming at byte {} of {}", file->path, worker, have, file->bytes);
    }
  }
  const auto result = transfers->objects().append(sha, file->bytes, offset, *data);
  json ack{{"sha256", sha}, {"offset", result.offset}};
  using Outcome = schema::ObjectStore::Outcome;
  if (result.outcome == Outcome::Stored) {
    store.insert_event(experiment.id, file->trial_id, file->attempt, "ARTIFACT_STORED",
                       {{"worker", worker}, {"path", file->path}, {"sha256", sha}, {"bytes", file->bytes}}, wall);
    const auto trial = file->trial;
    transfers->stored(sha);  // `file` is gone from here on
    ack["complete"] = true;
    prune_superseded_checkpoints(trial);  // when this file completed a checkpoint
  } else if (result.outcome == Outcome::Corrupt) {
    store.insert_event(experiment.id, file->trial_id, file->attempt, "ARTIFACT_CORRUPT",
                       {{"worker", worker}, {"path", file->path}, {"sha256", sha}, {"bytes", file->bytes}}, wall);
    spdlog::warn("artifact {} from {}: content differs from its recorded sha256; discarded", file->path, worker);
    transfers->forget(sha);
    ack["error"] = "sha256 mismatch: discarded";
  }
  send(worker, MessageType::UploadAck, std::move(ack));
}

// Whether the sweep should keep running for transfers of finished trials:
// while a worker that owes files is connected, up to artifact_wait_seconds.
bool Coordinator::State::awaiting_artifacts(double now) {
  if (cancelling || transfers->size() == 0) return false;
  // After a restart, workers that owe files get the resume grace to reconnect.
  const double grace = options.resume_grace_seconds > 0 ? options.resume_grace_seconds : 2 * lease_timeout();
  const bool reconnecting = resumed && now - started < grace;
  const auto reachable = [this, reconnecting](const std::string& worker) {
    const auto* lease = leases.find(worker);
    return reconnecting || (lease && lease->connected);
  };
  const std::size_t waiting = transfers->waiting(reachable);
  if (waiting == 0) return false;
  if (!artifacts_wait_started) {
    artifacts_wait_started = now;
    spdlog::info("waiting up to {:.0f} s for {} artifact transfer(s)", options.artifact_wait_seconds, waiting);
  }
  // A worker that sends nothing for a while (an older version that does not
  // know FETCH, or a stuck disk) does not hold the sweep for the whole wait.
  const bool stalled = now - std::max(last_upload, *artifacts_wait_started) > kArtifactStallSeconds;
  if (now - *artifacts_wait_started <= options.artifact_wait_seconds && !stalled) return true;
  const std::string why = stalled ? "no upload for " + std::to_string(static_cast<int>(kArtifactStallSeconds)) + " s" : "time is up";
  spdlog::warn("gave up waiting for {} artifact transfer(s) ({}); they stay on their workers and a later sweep of this experiment asks again",
               waiting, why);
  return false;
}

}  // namespace lorafarm::coordinator
