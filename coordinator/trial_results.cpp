// A trial attempt's end as its worker reports it: RESULT (metrics, artifacts,
// objectives, constraints) and FAILED; reports for attempts the worker does
// not hold are recorded and never counted.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "coordinator/coordinator_state.h"
#include "coordinator/rank_selection.h"
#include "schema/trial_metric.h"

namespace lorafarm::coordinator {

using nlohmann::json;

namespace {

std::optional<double> optional_number(const json& body, const char* key) {
  const auto it = body.find(key);
  if (it == body.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

// A number of a message body, or JSON null when the worker did not know it.
json optional_json(const json& body, const char* key) {
  const auto it = body.find(key);
  return it != body.end() && it->is_number() ? *it : json();
}

}  // namespace

// A RESULT or FAILED for an attempt that does not hold the lease: recorded,
// acknowledged (so the worker forgets it), never counted.
void Coordinator::State::record_unowned(const std::string& worker, MessageType type, const json& body, double wall) {
  const auto trial = body["trial"].get<std::int64_t>();
  const int attempt = body["attempt"].get<int>();
  std::string kind = "NOT_HELD_" + std::string(to_string(type));
  std::optional<std::int64_t> trial_id;
  if (trial < trials->size()) {
    const auto& t = trials->trial(trial);
    trial_id = t.id;
    if (attempt < t.attempt || (attempt == t.attempt && t.status != schema::TrialStatus::Running)) {
      const bool duplicate = attempt == t.attempt && schema::is_final(t.status);
      kind = std::string(duplicate ? "DUPLICATE_" : "STALE_") + std::string(to_string(type));
    }
  }
  json detail{{"worker", worker}, {"trial", trial}, {"attempt", attempt}};
  if (body.contains("metrics")) detail["metrics"] = body["metrics"];
  if (body.contains("cause")) detail["cause"] = body["cause"];
  store.insert_event(experiment.id, trial_id, attempt, kind, detail, wall);
  spdlog::info("{} trial {} attempt {} from {}: recorded, not counted", kind, trial, attempt, worker);
  send(worker, MessageType::Ack, {{"trial", trial}, {"attempt", attempt}});
}

void Coordinator::State::on_result(const std::string& worker, const json& body, double now) {
  const double wall = schema::unix_now();
  const auto trial = body["trial"].get<std::int64_t>();
  const int attempt = body["attempt"].get<int>();
  if (!owns(worker, trial, attempt)) return record_unowned(worker, MessageType::Result, body, wall);
  const auto& t = trials->trial(trial);
  std::vector<schema::ArtifactRecord> files;
  for (const auto& a : body.value("artifacts", json::array())) {
    files.push_back({t.id, attempt, worker, a["path"].get<std::string>(), a["sha256"].get<std::string>(), a["bytes"].get<std::int64_t>()});
    store.insert_artifact(files.back());
  }
  plan_artifacts(t, attempt, files, wall);
  json metrics = body["metrics"];
  const schema::WorkerMeasurements measured{optional_number(body, "peak_rss_mb"), optional_number(body, "wall_seconds")};
  auto objective = schema::resolve_metric(spec.objective.metric, metrics, measured);
  if (spec.rank_epsilon) {
    // A nested-rank trial: its objective is the rank curve's chosen point.
    if (const auto choice = choose_rank(metrics, spec.objective.metric, *spec.rank_epsilon, spec.objective.maximize)) {
      metrics["chosen_rank"] = choice->rank;
      metrics[spec.objective.metric + "@chosen_rank"] = choice->value;
      objective = choice->value;
    }
  }
  leases.release(trial);
  schema::ResultRecord result{t.id, attempt, metrics, measured.peak_rss_mb, measured.wall_seconds};
  if (result.wall_seconds) {
    mean_wall = (mean_wall * wall_samples + *result.wall_seconds) / (wall_samples + 1);
    wall_samples = std::min(wall_samples + 1, 50);
  }
  std::string missing = objective ? "" : spec.objective.metric;
  for (const auto& more : spec.more_objectives) {
    const auto value = result.metric(more.metric);
    if (!value) {
      if (missing.empty()) missing = more.metric;
      continue;
    }
    result.metrics[more.metric] = *value;  // kept with the result: a resumed sweep's sampler reads it there
  }
  if (!missing.empty()) {
    trials->fail(trial, schema::TrialStatus::Failed, "bad_output: the final result has no number '" + missing + "'", wall);
    acknowledge_end(worker, trial, attempt);
    return send_fetches(worker);
  }
  bool feasible = true;
  for (const auto& c : spec.constraints) {
    const auto value = result.metric(c.metric);
    if (value && !c.satisfied(*value)) feasible = false;
  }
  trials->complete(trial, result, *objective, feasible, wall);
  sampler->tell(trials->observations()[static_cast<std::size_t>(trial)]);
  acknowledge_end(worker, trial, attempt);
  send_fetches(worker);
}

void Coordinator::State::on_failed(const std::string& worker, const json& body, double now) {
  const double wall = schema::unix_now();
  const auto trial = body["trial"].get<std::int64_t>();
  const int attempt = body["attempt"].get<int>();
  if (!owns(worker, trial, attempt)) return record_unowned(worker, MessageType::Failed, body, wall);
  leases.release(trial);
  const auto cause = body["cause"].get<std::string>();
  std::string error = cause;
  if (body.contains("message") && !body["message"].get<std::string>().empty()) error += ": " + body["message"].get<std::string>();
  const auto tail = body.value("stderr_tail", std::string());
  store.insert_event(experiment.id, trials->trial(trial).id, attempt, "TRIAL_FAILED",
                     {{"worker", worker}, {"cause", cause}, {"message", body.value("message", "")}, {"exit_code", optional_json(body, "exit_code")},
                      {"signal", optional_json(body, "signal")}, {"stderr_tail", tail}, {"peak_rss_mb", optional_json(body, "peak_rss_mb")}},
                     wall);
  if (!tail.empty()) error += "\n--- stderr (tail) ---\n" + tail;
  if (cause == "cancelled") {
    trials->cancel(trial, wall);
    return acknowledge_end(worker, trial, attempt);
  }
  const auto status = cause == "stopped" ? schema::TrialStatus::Pruned
                      : cause == "memory" ? schema::TrialStatus::Infeasible
                                          : schema::TrialStatus::Failed;
  trials->fail(trial, status, error, wall);
  sampler->tell(trials->observations()[static_cast<std::size_t>(trial)]);
  acknowledge_end(worker, trial, attempt);
}

// ACK of the attempt's RESULT/FAILED, sent once the trial's new status is
// known: `ended` when it will never run again, and then its checkpoints go
// here and, on that word, on the worker.
void Coordinator::State::acknowledge_end(const std::string& worker, std::int64_t trial, int attempt) {
  const bool ended = schema::is_final(trials->trial(trial).status);
  send(worker, MessageType::Ack, {{"trial", trial}, {"attempt", attempt}, {"ended", ended}});
  discard_checkpoints_if_ended(trial);
}

}  // namespace lorafarm::coordinator
