// Looking up recorded trials and specs (cli/recorded_trial.h).
#include "cli/recorded_trial.h"

#include <stdexcept>

#include "report/recorded_spec.h"

namespace lorafarm::cli {

schema::TrialRecord find_trial(schema::Store& store, const schema::ExperimentRecord& experiment, std::int64_t number) {
  const auto trials = store.trials(experiment.id);
  if (number < 0 || number >= static_cast<std::int64_t>(trials.size()))
    throw std::runtime_error("experiment '" + experiment.name + "' has trials 0.." + std::to_string(trials.size()) + " (exclusive), not " +
                             std::to_string(number));
  return trials[static_cast<std::size_t>(number)];
}

schema::ExperimentRecord find_experiment(schema::Store& store, const std::string& name, const std::string& db) {
  auto experiment = store.find_experiment(name);
  if (!experiment) throw std::runtime_error("no experiment '" + name + "' in " + db);
  return *experiment;
}

schema::SweepSpec recorded_spec(schema::Store& store, const schema::ExperimentRecord& experiment, const std::string& spec_dir) {
  if (spec_dir.empty() && !schema::recorded_spec_dir(store, experiment.id))
    throw std::runtime_error("the database does not record the spec's folder for '" + experiment.name + "'; pass --spec-dir");
  return report::read_recorded_spec(store, experiment, spec_dir).spec;
}

}  // namespace lorafarm::cli
