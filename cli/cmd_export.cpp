// `lorafarm export EXP (--trial N | --best) --to DIR [--format mlx|peft] [--fuse]`:
// writes a recorded trial's adapter, checked against the sha256 the sweep
// recorded, as it was saved, converted to the other adapter layout, or merged
// into its base model as a plain Hugging Face folder.
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli/command.h"
#include "cli/input_paths.h"
#include "cli/recorded_trial.h"
#include "engine/adapter_io.h"
#include "engine/fuse.h"
#include "report/summary.h"
#include "schema/artifact_store.h"
#include "schema/sha256.h"

namespace lorafarm::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct ExportOptions {
  std::string experiment;
  std::string db = "lorafarm.db";
  std::int64_t trial = -1;
  bool best = false;
  std::string to;
  std::string format;  // "" = as saved; "mlx" | "peft"
  bool fuse = false;
  std::string model;     // base model folder; default: the sweep's
  std::string spec_dir;  // overrides the folder recorded with the experiment
  bool json = false;
};

// The attempt's adapter as recorded, and where its files are on this machine.
schema::AttemptAdapter recorded_adapter(schema::Store& store, const std::string& experiment, const schema::TrialRecord& trial) {
  auto adapter = schema::attempt_adapter(store, experiment, trial.id, trial.number, trial.attempt);
  if (!adapter)
    throw std::runtime_error("trial " + std::to_string(trial.number) + " (attempt " + std::to_string(trial.attempt) + ", " +
                             std::string(schema::to_string(trial.status)) + ") recorded no adapter: none of its " +
                             std::to_string(store.artifacts(trial.id).size()) + " artifacts is an adapter_config.json");
  return *adapter;
}

// Every recorded file is here (in the artifact store or the worker's folder)
// and has its recorded sha256, so what is exported is what the trial wrote
// and was scored on.
void verify(const schema::AttemptAdapter& adapter, const schema::TrialRecord& trial) {
  for (const auto& file : adapter.files) {
    if (!file.local)
      throw std::runtime_error(file.record.path + ": trial " + std::to_string(trial.number) + "'s file is neither in the artifact store nor on "
                               "this machine (written by worker " + file.record.worker +
                               "; it comes home when the sweep fetches it, unless above --max-artifact-mb)");
    const std::string actual = schema::sha256_file(*file.local);
    if (actual != file.record.sha256)
      throw std::runtime_error(file.local->string() + ": sha256 " + actual + " differs from the recorded " + file.record.sha256 +
                               " (the file changed after the trial)");
  }
}

engine::AdapterFormat saved_format(const fs::path& folder) {
  return fs::exists(folder / "adapter_model.safetensors") ? engine::AdapterFormat::kPeft : engine::AdapterFormat::kMlx;
}

std::string base_model(const ExportOptions& options, const schema::SweepSpec& spec) {
  const std::string model = options.model.empty() ? spec.model : options.model;
  if (model.empty()) throw std::runtime_error("the sweep names no model (a command sweep?); pass --model with the base model folder");
  require_folder("--model", model);
  return model;
}

// Writes the export into `to` (which must not hold anything yet).
void write_export(const ExportOptions& options, const schema::AttemptAdapter& adapter, const schema::SweepSpec& spec, const fs::path& to) {
  if (options.fuse) {
    const std::string model = base_model(options, spec);
    engine::save_model_folder(engine::load_adapted_model(model, adapter.folder).merged_model(), model, to);
    return;
  }
  if (!options.format.empty() && engine::parse_adapter_format(options.format) != saved_format(adapter.folder)) {
    const std::string model = base_model(options, spec);
    const auto adapted = engine::load_adapted_model(model, adapter.folder);
    engine::save_adapter(to, adapted, engine::parse_adapter_format(options.format), json{{"model", model}, {"exported_from", adapter.folder.string()}});
    return;
  }
  fs::create_directories(to);
  for (const auto& file : adapter.files) fs::copy_file(*file.local, to / file.local->filename());
}

schema::TrialRecord chosen_trial(schema::Store& store, const schema::ExperimentRecord& experiment, const ExportOptions& options) {
  if (!options.best) return find_trial(store, experiment, options.trial);
  const auto summary = report::summarize(store, experiment);
  if (!summary.best) throw std::runtime_error("experiment '" + experiment.name + "' has no completed trial with an objective yet");
  return *summary.best;
}

// A sibling folder the export is written into and renamed from when complete,
// so a failed export leaves nothing behind under the name asked for.
class StagingFolder {
 public:
  explicit StagingFolder(const fs::path& target) : target_(fs::absolute(target)), path_(target_.string() + ".partial") {
    fs::remove_all(path_);
  }
  ~StagingFolder() {
    std::error_code ignored;
    if (!committed_) fs::remove_all(path_, ignored);
  }
  StagingFolder(const StagingFolder&) = delete;
  StagingFolder& operator=(const StagingFolder&) = delete;
  const fs::path& path() const { return path_; }
  void commit() {
    if (fs::exists(target_)) fs::remove(target_);  // checked empty before
    fs::rename(path_, target_);
    committed_ = true;
  }

 private:
  fs::path target_;
  fs::path path_;
  bool committed_ = false;
};

json written_files(const fs::path& to) {
  json files = json::array();
  for (const auto& entry : fs::recursive_directory_iterator(to))
    if (entry.is_regular_file())
      files.push_back({{"path", fs::relative(entry.path(), to).string()}, {"bytes", entry.file_size()}, {"sha256", schema::sha256_file(entry.path())}});
  return files;
}

int run_export(const ExportOptions& options) {
  if (options.best == (options.trial >= 0)) throw std::runtime_error("export needs exactly one of --trial N and --best");
  if (options.fuse && !options.format.empty()) throw std::runtime_error("--fuse writes a model folder; it takes no --format");
  if (!options.format.empty()) engine::parse_adapter_format(options.format);  // an unknown name fails before any work
  const fs::path to = options.to;
  if (fs::exists(to) && !(fs::is_directory(to) && fs::is_empty(to))) throw std::runtime_error("--to " + options.to + ": exists and is not an empty folder");

  auto store = schema::Store::open_reader(options.db);
  const auto experiment = find_experiment(store, options.experiment, options.db);
  const auto trial = chosen_trial(store, experiment, options);
  const auto adapter = recorded_adapter(store, experiment.name, trial);
  verify(adapter, trial);
  const bool needs_spec = options.fuse || !options.format.empty();
  const schema::SweepSpec spec = needs_spec && options.model.empty() ? recorded_spec(store, experiment, options.spec_dir) : schema::SweepSpec{};
  StagingFolder staging(to);
  write_export(options, adapter, spec, staging.path());
  staging.commit();

  const json files = written_files(to);
  if (options.json) {
    std::cout << json{{"experiment", experiment.name}, {"trial", trial.number}, {"attempt", trial.attempt}, {"adapter", adapter.folder.string()},
                      {"to", to.string()}, {"fused", options.fuse}, {"files", files}}
                     .dump(2)
              << "\n";
    return kExitOk;
  }
  std::cout << "trial " << trial.number << " of '" << experiment.name << "' (" << adapter.folder.string() << ", sha256 verified) -> " << to.string()
            << (options.fuse ? " (fused model)" : "") << "\n";
  for (const auto& f : files) std::cout << "  " << f["sha256"].get<std::string>() << "  " << f["path"].get<std::string>() << "\n";
  return kExitOk;
}

}  // namespace

Command add_export_command(CLI::App& root) {
  auto options = std::make_shared<ExportOptions>();
  auto* app = root.add_subcommand("export", "Write a recorded trial's adapter (or its fused model) to a folder");
  app->add_option("experiment", options->experiment, "Experiment name")->required();
  app->add_option("--trial", options->trial, "Trial number");
  app->add_flag("--best", options->best, "The experiment's best completed trial");
  app->add_option("--to", options->to, "Output folder (must not exist or be empty)")->required();
  app->add_option("--format", options->format, "Adapter layout: mlx or peft (default: as the trial saved it)");
  app->add_flag("--fuse", options->fuse, "Merge the adapter into the base model and write a plain Hugging Face folder");
  app->add_option("--model", options->model, "Base model folder for --format/--fuse (default: the sweep's model)");
  app->add_option("--db", options->db, "Experiment database")->capture_default_str();
  app->add_option("--spec-dir", options->spec_dir, "Folder the spec's relative paths resolve against (default: as recorded)");
  app->add_flag("--json", options->json, "Print what was written as JSON");
  app->footer(
      "The adapter's files are checked against the sha256 the sweep recorded before anything is written.\n"
      "Examples:\n"
      "  # after scripts/quickstart.sh\n"
      "  lorafarm export quickstart --best --to /tmp/best-adapter --db runs/quickstart.db\n"
      "  lorafarm export quickstart --trial 3 --format peft --to /tmp/peft-adapter --db runs/quickstart.db\n"
      "  lorafarm export quickstart --best --fuse --to /tmp/best-model --db runs/quickstart.db");
  return {app, [options] { return run_export(*options); }};
}

}  // namespace lorafarm::cli
