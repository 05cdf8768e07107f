// `lorafarm report EXPERIMENT`: the method-comparison report (HTML, Markdown,
// CSV, JSON) of an experiment in the store, with the base model's reference
// row as `lorafarm sweep` stored it (cli/base_row.h); databases without one
// get it scored now, not stored (the report only reads the database).
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/base_row.h"
#include "cli/command.h"
#include "cli/input_paths.h"
#include "report/recorded_spec.h"
#include "report/report.h"
#include "schema/store.h"
#include "schema/sweep_spec.h"

namespace lorafarm::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct ReportOptions {
  std::string experiment;
  std::string db = "lorafarm.db";
  std::string format = "html";
  std::string output;
  std::string spec_dir;
  bool no_base = false;
  int threads = -1;  // -1: the trials' own setting (the spec's fixed.threads)
};

// Does `folder` hold a spec file whose hash is the experiment's? Then it is the
// folder the spec's relative paths were resolved against.
bool holds_spec(const fs::path& folder, const std::string& hash) {
  std::error_code ec;
  for (auto it = fs::directory_iterator(folder, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec) || it->path().extension() != ".json" || it->file_size(ec) > (1 << 20)) continue;
    try {
      if (schema::load_sweep_spec(it->path()).hash() == hash) return true;
    } catch (const std::exception&) {
      // Not a spec, or another one.
    }
  }
  return false;
}

// --spec-dir, else the folder the coordinator recorded, else (databases from
// before it was recorded) a spec file with the experiment's hash in the working
// directory, the database's folder, or their immediate subfolders.
std::optional<fs::path> find_spec_dir(const ReportOptions& options, schema::Store& store, const schema::ExperimentRecord& e) {
  if (!options.spec_dir.empty()) return fs::absolute(options.spec_dir);
  if (const auto recorded = schema::recorded_spec_dir(store, e.id); recorded && fs::is_directory(*recorded)) return fs::path(*recorded);
  std::vector<fs::path> roots = {fs::current_path(), fs::absolute(options.db).parent_path()};
  std::vector<fs::path> candidates;
  for (const auto& root : roots) {
    candidates.push_back(root);
    std::error_code ec;
    int seen = 0;
    for (auto it = fs::directory_iterator(root, ec); !ec && it != fs::directory_iterator() && seen < 200; it.increment(ec), ++seen) {
      const auto name = it->path().filename().string();
      if (it->is_directory(ec) && !name.empty() && name[0] != '.' && name.rfind("build", 0) != 0) candidates.push_back(it->path());
    }
  }
  for (const auto& c : candidates)
    if (holds_spec(c, e.spec_hash)) return c;
  return std::nullopt;
}

// The spec with its relative paths resolved: against --spec-dir, the recorded
// folder, or (databases from before it was recorded) a folder holding the spec file.
std::optional<schema::SweepSpec> resolved_spec(const ReportOptions& options, schema::Store& store, const schema::ExperimentRecord& e,
                                               std::string& note) {
  report::RecordedSpec recorded;
  try {
    recorded = report::read_recorded_spec(store, e, options.spec_dir);
  } catch (const schema::SpecError& error) {  // the rest of the report still shows
    note = std::string("No base-model row: ") + error.what() + ".";
    return std::nullopt;
  }
  if (recorded.spec.trial.kind != schema::TrialKind::Engine) {
    note = "No base-model row: the experiment's trials are not engine trials.";
    return std::nullopt;
  }
  const json& doc = recorded.spec.document;
  const bool relative = fs::path(doc.value("model", "")).is_relative() || fs::path(doc.value("data", "")).is_relative();
  if (!recorded.spec_dir_known && relative) {
    const auto dir = find_spec_dir(options, store, e);
    if (!dir) {
      note = "No base-model row: the spec's relative model path '" + doc.value("model", "") +
             "' needs the spec's folder; run from it or pass --spec-dir.";
      return std::nullopt;
    }
    recorded = report::read_recorded_spec(store, e, *dir);
  }
  for (const auto& folder : {recorded.spec.model, recorded.spec.data}) {
    if (!fs::is_directory(folder)) {
      note = "No base-model row: " + folder + " is not a folder.";
      return std::nullopt;
    }
  }
  return recorded.spec;
}

// The stored base row (`lorafarm sweep` scores it when the experiment
// starts); for a database without one, the row scored now and not stored
// (the report opens the database read-only).
report::ReportContext report_context(const ReportOptions& options, schema::Store& store, const schema::ExperimentRecord& e) {
  report::ReportContext context = report::stored_report_context(store, e);
  if (context.base) return context;
  context.note.clear();
  const auto spec = resolved_spec(options, store, e, context.note);
  if (!spec) return options.no_base ? report::ReportContext{} : context;
  context.model_parameters = model_parameter_count(*spec);
  if (options.no_base) return context;
  if (is_preference_spec(*spec)) {
    context.note = kPreferenceBaseNote;
    return context;
  }
  context.base = score_base_model(*spec, options.threads);
  context.note = "The base-model row was scored now: this database has none stored (sweeps store it when they start).";
  return context;
}

schema::ExperimentRecord find_or_list(schema::Store& store, const ReportOptions& options) {
  const auto experiment = store.find_experiment(options.experiment);
  if (experiment) return *experiment;
  std::string names;
  for (const auto& e : store.experiments()) names += (names.empty() ? "" : ", ") + e.name;
  throw std::runtime_error("no experiment '" + options.experiment + "' in " + options.db +
                           (names.empty() ? " (it has none)" : "; it has: " + names));
}

void write_output(const std::string& output, const std::string& text) {
  if (output.empty() || output == "-") {
    std::cout << text;
    return;
  }
  std::ofstream file(output, std::ios::binary);
  if (!file) throw std::runtime_error("cannot write " + output);
  file << text;
  file.close();
  if (!file) throw std::runtime_error("failed writing " + output);
  std::cerr << "wrote " << output << " (" << text.size() << " bytes)\n";
}

int run_report(const ReportOptions& options) {
  require_folder("--spec-dir", options.spec_dir);
  const auto format = report::report_format_from(options.format);
  auto store = schema::Store::open_reader(options.db);
  const auto experiment = find_or_list(store, options);
  const auto context = report_context(options, store, experiment);
  write_output(options.output, report::render_report(store, experiment, format, context));
  return kExitOk;
}

}  // namespace

Command add_report_command(CLI::App& root) {
  auto options = std::make_shared<ReportOptions>();
  CLI::App* app = root.add_subcommand("report", "Method-comparison report of an experiment: HTML with plots, Markdown, CSV or JSON");
  app->add_option("experiment", options->experiment, "Experiment name")->required();
  app->add_option("--db", options->db, "Database file")->capture_default_str();
  app->add_option("--format", options->format, "html (one self-contained page with plots), md (the comparison table), csv or json (every trial)")
      ->check(CLI::IsMember({"html", "md", "markdown", "csv", "json"}))
      ->capture_default_str();
  app->add_option("-o,--output", options->output, "Write to this file (default: stdout)");
  app->add_flag("--no-base", options->no_base, "For a database with no stored base row: do not evaluate the untrained base model now");
  app->add_option("--spec-dir", options->spec_dir, "Folder of the sweep spec (its relative model/data paths resolve against it)");
  app->add_option("--threads", options->threads, "Threads for the base-model evaluation (0 = all cores; default: the spec's fixed.threads, as the trials ran)")->capture_default_str();
  app->footer(
      "runs/quickstart.db comes from scripts/quickstart.sh.\nExamples:\n"
      "  lorafarm report quickstart --db runs/quickstart.db --format html -o runs/quickstart.html\n"
      "  lorafarm report quickstart --db runs/quickstart.db --format md\n"
      "  lorafarm report command-demo --db /tmp/demo.db --format json -o /tmp/demo.json\n"
      "The base-model row is the one lorafarm sweep stored when the experiment started. Databases without one get it\n"
      "scored now (not stored): that needs the model and data folders of an engine sweep, found via the folder the\n"
      "sweep recorded, --spec-dir, or (older databases) the spec file in the working directory, the database's folder\n"
      "and their subfolders.");
  return {app, [options] { return run_report(*options); }};
}

}  // namespace lorafarm::cli
