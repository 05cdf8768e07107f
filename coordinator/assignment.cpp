#include "coordinator/assignment.h"

namespace lorafarm::coordinator {

using nlohmann::json;

json assignment(const schema::SweepSpec& spec, const schema::TrialRecord& trial) {
  json body{{"experiment", spec.name}, {"trial", trial.number},   {"attempt", trial.attempt},
            {"seed", trial.seed},      {"params", trial.params},  {"objective", spec.objective.metric},
            {"spec_dir", spec.spec_dir.string()}};
  if (spec.trial.kind == schema::TrialKind::Command) {
    body["kind"] = "command";
    body["command"] = spec.trial.command;
    body["shell"] = spec.trial.shell;
    if (spec.trial.metrics) body["metrics"] = spec.trial.metrics->to_json();
    if (spec.trial.preset) body["preset"] = spec.trial.preset->to_json();
  } else {
    body["kind"] = "engine";
    json config = spec.fixed;
    config["model"] = spec.model;
    config["data"] = spec.data;
    body["config"] = config;
  }
  if (!spec.fixed.empty()) body["fixed"] = spec.fixed;
  if (spec.trial.timeout_seconds > 0) body["timeout_seconds"] = spec.trial.timeout_seconds;
  body["stop_grace_seconds"] = spec.trial.stop_grace_seconds;
  if (!spec.trial.env.empty()) body["env"] = spec.trial.env;
  if (const auto limit = spec.memory_limit_mb()) body["memory_limit_mb"] = *limit;
  return body;
}

}  // namespace lorafarm::coordinator
