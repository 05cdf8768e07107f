// `lorafarm status [EXPERIMENT]`: experiments in a database and how far each got.
#include <iomanip>
#include <iostream>

#include "cli/command.h"
#include "report/summary.h"
#include "schema/store.h"

namespace lorafarm::cli {
namespace {

struct StatusOptions {
  std::string experiment;
  std::string db = "lorafarm.db";
  bool json = false;
};

int run_status(const StatusOptions& options) {
  auto store = schema::Store::open_reader(options.db);
  std::vector<schema::ExperimentRecord> experiments;
  if (!options.experiment.empty()) {
    auto e = store.find_experiment(options.experiment);
    if (!e) throw std::runtime_error("no experiment '" + options.experiment + "' in " + options.db);
    experiments.push_back(*e);
  } else {
    experiments = store.experiments();
  }
  nlohmann::json out = nlohmann::json::array();
  for (const auto& e : experiments) {
    const auto summary = report::summarize(store, e);
    if (options.json) {
      out.push_back(report::to_json(summary));
    } else {
      std::cout << report::render_table(summary) << "\n";
    }
  }
  if (options.json) std::cout << (options.experiment.empty() ? out : out.at(0)).dump(2) << "\n";
  else if (experiments.empty()) std::cout << "no experiments in " << options.db << "\n";
  return kExitOk;
}

}  // namespace

Command add_status_command(CLI::App& root) {
  auto options = std::make_shared<StatusOptions>();
  CLI::App* app = root.add_subcommand("status", "Show experiments in a database and their progress");
  app->add_option("experiment", options->experiment, "Experiment name (default: all)");
  app->add_option("--db", options->db, "Database file")->capture_default_str();
  app->add_flag("--json", options->json, "Print JSON: one summary object for EXPERIMENT, else an array of them");
  app->footer(
      "Examples:\n"
      "  lorafarm sweep examples/command_sweep.json --db /tmp/demo.db --workers 2\n"
      "  lorafarm status --db /tmp/demo.db\n"
      "  lorafarm status command-demo --db /tmp/demo.db --json");
  return {app, [options] { return run_status(*options); }};
}

}  // namespace lorafarm::cli
