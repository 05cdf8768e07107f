// `lorafarm rerun EXPERIMENT TRIAL`: runs a recorded trial again, from the
// database alone, through the same launch path a worker uses, and compares
// the new result with the recorded one. Engine trials are deterministic given
// their seed and thread count, so their losses must reproduce bit for bit.
#include <poll.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <optional>
#include <sstream>

#include "cli/command.h"
#include "coordinator/assignment.h"
#include "cli/recorded_trial.h"
#include "schema/store.h"
#include "schema/sweep_spec.h"
#include "worker/trial_runner.h"

namespace lorafarm::cli {
namespace {

using nlohmann::json;

struct RerunOptions {
  std::string experiment;
  std::int64_t trial = 0;
  std::string db = "lorafarm.db";
  std::string spec_dir;  // overrides the folder recorded with the experiment
  std::string workdir;   // keep the trial folder here (default: a temporary folder, removed)
  bool json = false;
  bool quiet = false;
};

// Timings and memory differ from run to run; everything else must not.
bool deterministic_metric(const std::string& name) {
  for (const char* varying : {"seconds", "per_second", "rss", "memory", "_mb"})
    if (name.find(varying) != std::string::npos) return false;
  return true;
}

bool same_bits(double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); }

// Runs the trial to its end, printing its reports unless quiet.
json run_to_end(worker::TrialProcess& process, bool quiet) {
  const auto print = [quiet](const json& report) {
    if (!quiet) std::cerr << "step " << report["step"] << " " << report["metrics"].dump() << "\n";
  };
  while (!process.poll(worker::monotonic_seconds())) {
    std::vector<pollfd> fds;
    for (const int fd : {process.stdout_fd(), process.stderr_fd()})
      if (fd >= 0) fds.push_back({fd, POLLIN, 0});
    if (fds.empty()) {
      ::usleep(20000);
      continue;
    }
    if (::poll(fds.data(), fds.size(), 100) <= 0) continue;
    for (const auto& p : fds) {
      if (!(p.revents & (POLLIN | POLLHUP | POLLERR))) continue;
      for (const auto& report : process.read_available(p.fd)) print(report);
    }
  }
  for (const auto& report : process.take_reports_at_exit()) print(report);
  return process.outcome();
}

namespace fs = std::filesystem;

// --workdir, or a temporary folder removed when the re-run ends.
class RerunFolder {
 public:
  explicit RerunFolder(const std::string& workdir) : path_(workdir) {
    if (!path_.empty()) return;
    std::string pattern = (fs::temp_directory_path() / "lorafarm-rerun-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("cannot create a temporary folder in " + fs::temp_directory_path().string());
    path_ = pattern;
    temporary_ = true;
  }
  ~RerunFolder() {
    std::error_code ignored;
    if (temporary_) fs::remove_all(path_, ignored);
  }
  RerunFolder(const RerunFolder&) = delete;
  RerunFolder& operator=(const RerunFolder&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
  bool temporary_ = false;
};

// Every deterministic number the original run reported, against the re-run's.
struct Comparison {
  json rows = json::array();
  bool objective_matches = false;
  bool all_match = true;
};
Comparison compare(const schema::ResultRecord& recorded, const json& metrics, const std::string& objective) {
  Comparison out;
  for (const auto& [name, value] : recorded.metrics.items()) {
    if (!value.is_number() || !deterministic_metric(name)) continue;
    const auto again = metrics.find(name);
    const bool present = again != metrics.end() && again->is_number();
    const bool match = present && same_bits(value.get<double>(), again->get<double>());
    if (name == objective) out.objective_matches = match;
    out.all_match = out.all_match && match;
    out.rows.push_back({{"metric", name}, {"recorded", value}, {"rerun", present ? *again : json()}, {"identical", match}});
  }
  return out;
}

void print_comparison(const Comparison& c, const std::string& objective) {
  std::cout << std::left << std::setw(22) << "metric" << std::right << std::setw(24) << "recorded" << std::setw(24) << "rerun" << "  identical\n";
  for (const auto& row : c.rows) {
    std::ostringstream a, b;
    a << std::setprecision(17) << row["recorded"].get<double>();
    if (row["rerun"].is_number()) b << std::setprecision(17) << row["rerun"].get<double>();
    std::cout << std::left << std::setw(22) << row["metric"].get<std::string>() << std::right << std::setw(24) << a.str() << std::setw(24)
              << (b.str().empty() ? "-" : b.str()) << "  " << (row["identical"].get<bool>() ? "yes" : "NO") << "\n";
  }
  std::cout << (c.objective_matches ? "reproduced: " : "NOT reproduced: ") << objective
            << (c.objective_matches ? " is bit-identical" : " differs") << (c.all_match ? "" : " (some metrics differ)") << "\n";
}

int run_rerun(const RerunOptions& options) {
  auto store = schema::Store::open_reader(options.db);
  const auto experiment = find_experiment(store, options.experiment, options.db);
  const auto trial = find_trial(store, experiment, options.trial);
  const auto spec = recorded_spec(store, experiment, options.spec_dir);
  const auto recorded = store.result(trial.id);

  RerunFolder workdir(options.workdir);
  auto launch = worker::TrialLaunch::from_assign(coordinator::assignment(spec, trial));
  worker::TrialProcess process(std::move(launch), workdir.path(), fs::read_symlink("/proc/self/exe"));
  if (!options.json && !options.quiet)
    std::cerr << "re-running trial " << trial.number << " of '" << options.experiment << "' (seed " << trial.seed << ") " << trial.params.dump() << "\n";
  const auto outcome = run_to_end(process, options.quiet || options.json);

  json report{{"experiment", options.experiment}, {"trial", trial.number}, {"seed", trial.seed}, {"params", trial.params},
              {"recorded_status", schema::to_string(trial.status)}, {"outcome", outcome["type"]}};
  if (outcome["type"] != "RESULT") {
    report["cause"] = outcome["body"].value("cause", "");
    report["message"] = outcome["body"].value("message", "");
    if (options.json) std::cout << report.dump(2) << "\n";
    std::cerr << "error: the re-run failed (" << report["cause"].get<std::string>() << "): " << report["message"].get<std::string>() << "\n";
    return kExitError;
  }
  const json& metrics = outcome["body"]["metrics"];
  report["metrics"] = metrics;
  if (!recorded) {
    report["reproduced"] = nullptr;
    if (options.json) std::cout << report.dump(2) << "\n";
    else std::cout << "trial " << trial.number << " has no recorded result (" << schema::to_string(trial.status) << "); re-run gave " << metrics.dump() << "\n";
    return kExitOk;
  }
  const auto comparison = compare(*recorded, metrics, spec.objective.metric);
  report["comparison"] = comparison.rows;
  report["reproduced"] = comparison.objective_matches;
  if (options.json) std::cout << report.dump(2) << "\n";
  else print_comparison(comparison, spec.objective.metric);
  if (!comparison.objective_matches)
    std::cerr << "error: trial " << trial.number << "'s " << spec.objective.metric << " did not reproduce (same seed " << trial.seed
              << "; engine results are bit-identical only with the same thread count and build)\n";
  return comparison.objective_matches ? kExitOk : kExitError;
}

}  // namespace

Command add_rerun_command(CLI::App& root) {
  auto options = std::make_shared<RerunOptions>();
  auto* app = root.add_subcommand("rerun", "Run a recorded trial again from the database and compare its result");
  app->add_option("experiment", options->experiment, "Experiment name")->required();
  app->add_option("trial", options->trial, "Trial number")->required();
  app->add_option("--db", options->db, "Experiment database")->capture_default_str();
  app->add_option("--spec-dir", options->spec_dir, "Folder the spec's relative paths resolve against (default: as recorded)");
  app->add_option("--workdir", options->workdir, "Keep the trial folder (adapter, trial.json) here (default: temporary)");
  app->add_flag("--json", options->json, "Print the comparison as JSON");
  app->add_flag("--quiet", options->quiet, "Do not print the trial's progress");
  app->footer(
      "Exit status 0 when the objective reproduces bit for bit (or there was nothing recorded to compare), 1 otherwise.\n"
      "Examples:\n"
      "  lorafarm rerun quickstart 3 --db runs/quickstart.db      # after scripts/quickstart.sh\n"
      "  lorafarm rerun command-demo 5 --db /tmp/demo.db --json  # after lorafarm sweep examples/command_sweep.json --db /tmp/demo.db");
  return {app, [options] { return run_rerun(*options); }};
}

}  // namespace lorafarm::cli
