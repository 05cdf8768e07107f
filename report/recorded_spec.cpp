// Stored specs parsed once, by the same parser `lorafarm sweep` used.
#include "report/recorded_spec.h"

namespace lorafarm::report {

RecordedSpec read_recorded_spec(schema::Store& store, const schema::ExperimentRecord& experiment, const std::filesystem::path& spec_dir) {
  RecordedSpec out;
  std::filesystem::path dir = spec_dir;
  if (dir.empty()) {
    if (const auto recorded = schema::recorded_spec_dir(store, experiment.id)) dir = *recorded;
  }
  out.spec_dir_known = !dir.empty();
  if (dir.empty()) dir = std::filesystem::current_path();
  try {
    out.spec = schema::parse_sweep_spec(experiment.spec_json, dir, "the stored spec of experiment '" + experiment.name + "'");
  } catch (const schema::SpecError& e) {
    throw schema::SpecError(std::string(e.what()) + " (stored by lorafarm " +
                            (experiment.lorafarm_version.empty() ? "of unknown version" : experiment.lorafarm_version) +
                            "; this lorafarm cannot read it back)");
  }
  return out;
}

std::optional<schema::SweepSpec> try_recorded_spec(schema::Store& store, const schema::ExperimentRecord& experiment, std::string& error) {
  try {
    return read_recorded_spec(store, experiment).spec;
  } catch (const schema::SpecError& e) {
    error = e.what();
    return std::nullopt;
  }
}

}  // namespace lorafarm::report
