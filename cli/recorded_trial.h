// Looking up a recorded trial and its experiment's spec for the commands that
// work from the database alone (rerun, export).
#pragma once

#include <cstdint>
#include <string>

#include "schema/store.h"
#include "schema/sweep_spec.h"

namespace lorafarm::cli {

// Trial `number` of `experiment`; a number out of range names the valid ones.
schema::TrialRecord find_trial(schema::Store& store, const schema::ExperimentRecord& experiment, std::int64_t number);

// The experiment `name`, or an error naming it and the database.
schema::ExperimentRecord find_experiment(schema::Store& store, const std::string& name, const std::string& db);

// The recorded spec, parsed once, against `spec_dir` (when not empty) or the
// folder the sweep recorded; an error asks for --spec-dir when neither is known.
schema::SweepSpec recorded_spec(schema::Store& store, const schema::ExperimentRecord& experiment, const std::string& spec_dir);

}  // namespace lorafarm::cli
