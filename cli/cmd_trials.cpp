// `lorafarm trials EXPERIMENT`: every trial with its parameters and outcome.
#include <iomanip>
#include <iostream>
#include <map>
#include <set>

#include "cli/command.h"
#include "schema/store.h"

namespace lorafarm::cli {
namespace {

struct TrialsOptions {
  std::string experiment;
  std::string db = "lorafarm.db";
  bool json = false;
  bool csv = false;
};

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string scalar(const nlohmann::json& v) { return v.is_null() ? "" : v.is_string() ? v.get<std::string>() : v.dump(); }

int run_trials(const TrialsOptions& options) {
  auto store = schema::Store::open_reader(options.db);
  const auto experiment = store.find_experiment(options.experiment);
  if (!experiment) throw std::runtime_error("no experiment '" + options.experiment + "' in " + options.db);
  const auto trials = store.trials(experiment->id);
  std::set<std::string> param_names;
  for (const auto& t : trials)
    for (const auto& [k, v] : t.params.items()) param_names.insert(k);

  auto wall = [](const schema::TrialRecord& t) -> std::optional<double> {
    if (t.started_at && t.finished_at) return *t.finished_at - *t.started_at;
    return std::nullopt;
  };
  auto first_line = [](const std::string& s) { return s.substr(0, s.find('\n')); };
  // What each trial's latest attempt held of its worker (placement).
  std::map<std::int64_t, nlohmann::json> resources;
  for (const auto& a : store.attempts(experiment->id))
    if (!a.resources.is_null()) resources[a.trial_number] = a.resources;

  if (options.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& t : trials) {
      nlohmann::json row{{"trial", t.number}, {"status", schema::to_string(t.status)}, {"attempt", t.attempt}, {"seed", t.seed},
                         {"params", t.params}, {"worker", t.worker}, {"objective", t.objective ? nlohmann::json(*t.objective) : nlohmann::json()},
                         {"error", t.error}};
      if (const auto w = wall(t)) row["wall_seconds"] = *w;
      if (const auto r = store.result(t.id)) {
        row["metrics"] = r->metrics;
        if (r->peak_rss_mb) row["peak_rss_mb"] = *r->peak_rss_mb;
      }
      if (const auto it = resources.find(t.number); it != resources.end()) row["resources"] = it->second;
      out.push_back(row);
    }
    std::cout << out.dump(2) << "\n";
    return kExitOk;
  }
  if (options.csv) {
    std::cout << "trial,status,attempt,objective,wall_seconds,worker";
    for (const auto& p : param_names) std::cout << "," << csv_field(p);
    std::cout << ",error\n";
    for (const auto& t : trials) {
      const auto w = wall(t);
      std::cout << t.number << "," << schema::to_string(t.status) << "," << t.attempt << "," << (t.objective ? nlohmann::json(*t.objective).dump() : "")
                << "," << (w ? nlohmann::json(*w).dump() : "") << "," << csv_field(t.worker);
      for (const auto& p : param_names) std::cout << "," << csv_field(t.params.contains(p) ? scalar(t.params[p]) : "");
      std::cout << "," << csv_field(first_line(t.error)) << "\n";
    }
    return kExitOk;
  }
  std::cout << std::right << std::setw(6) << "trial" << "  " << std::left << std::setw(11) << "status" << std::right << std::setw(4) << "att"
            << std::setw(14) << "objective" << std::setw(9) << "wall s" << "  params / error\n";
  for (const auto& t : trials) {
    const auto w = wall(t);
    std::ostringstream obj, ws;
    if (t.objective) obj << std::setprecision(6) << *t.objective;
    if (w) ws << std::fixed << std::setprecision(2) << *w;
    std::cout << std::right << std::setw(6) << t.number << "  " << std::left << std::setw(11) << schema::to_string(t.status) << std::right
              << std::setw(4) << t.attempt << std::setw(14) << (t.objective ? obj.str() : "-") << std::setw(9) << (w ? ws.str() : "-") << "  "
              << t.params.dump();
    if (!t.error.empty()) std::cout << "  [" << first_line(t.error) << "]";
    std::cout << "\n";
  }
  return kExitOk;
}

}  // namespace

Command add_trials_command(CLI::App& root) {
  auto options = std::make_shared<TrialsOptions>();
  CLI::App* app = root.add_subcommand("trials", "List the trials of an experiment");
  app->add_option("experiment", options->experiment, "Experiment name")->required();
  app->add_option("--db", options->db, "Database file")->capture_default_str();
  auto* json_flag = app->add_flag("--json", options->json, "Print a JSON array, one object per trial");
  auto* csv_flag = app->add_flag("--csv", options->csv, "Print CSV, one row per trial and a column per parameter");
  json_flag->excludes(csv_flag);
  app->footer(
      "Examples:\n  lorafarm sweep examples/command_sweep.json --db /tmp/demo.db --workers 2\n"
      "  lorafarm trials command-demo --db /tmp/demo.db\n"
      "  lorafarm trials command-demo --db /tmp/demo.db --json\n"
      "  lorafarm trials command-demo --db /tmp/demo.db --csv > /tmp/demo-trials.csv");
  return {app, [options] { return run_trials(*options); }};
}

}  // namespace lorafarm::cli
