// An experiment's stored spec read back through schema::parse_sweep_spec, the
// one parser, with relative paths resolved against the folder the coordinator
// recorded (schema::recorded_spec_dir).
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "schema/store.h"
#include "schema/sweep_spec.h"

namespace lorafarm::report {

struct RecordedSpec {
  schema::SweepSpec spec;
  // False for databases written before the folder was recorded (and no
  // override given): relative model/data paths then resolve against the
  // working directory and may be wrong.
  bool spec_dir_known = false;
};

// Parses `experiment`'s spec_json. `spec_dir` (when not empty) overrides the
// recorded folder. A spec that no longer parses (written by another lorafarm
// version) throws schema::SpecError naming the experiment.
RecordedSpec read_recorded_spec(schema::Store& store, const schema::ExperimentRecord& experiment,
                                const std::filesystem::path& spec_dir = {});

// For read-only views that must show something: the parsed spec, or nullopt
// with `error` set to the message read_recorded_spec would throw.
std::optional<schema::SweepSpec> try_recorded_spec(schema::Store& store, const schema::ExperimentRecord& experiment,
                                                   std::string& error);

}  // namespace lorafarm::report
