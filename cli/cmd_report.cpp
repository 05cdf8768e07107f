// `lorafarm report EXPERIMENT`: the method-comparison report (HTML, Markdown,
// CSV, JSON) of an experiment in the store. For engine sweeps it also scores
// the untrained base model on the same splits and settings as the trials (the
// reference row) and counts the model's parameters (for "% of the model").
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/input_paths.h"
#include "report/report.h"
#include "engine/adapter_io.h"
#include "engine/dataset.h"
#include "engine/model_config.h"
#include "engine/tensor.h"
#include "engine/tokenizer.h"
#include "engine/trainer.h"
#include "schema/store.h"
#include "schema/sweep_spec.h"
#include "worker/engine_trial_config.h"

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

struct BaseRow {
  std::optional<coordinator::BaseModelScores> scores;
  std::optional<std::int64_t> parameters;
  std::string note;
};

// The base model scored as a trial's final evaluation scores its adapted
// model: the whole validation split, test_batches of the test split, the same
// batch size, sequence cut, EOS and prompt masking (from the spec's `fixed`).
BaseRow base_row(const ReportOptions& options, schema::Store& store, const schema::ExperimentRecord& e) {
  BaseRow out;
  const json spec = json::parse(e.spec_json, nullptr, false, true);
  if (!spec.is_object() || !spec.contains("trial") || spec["trial"].value("kind", "") != "engine" || !spec.contains("model") ||
      !spec.contains("data") || !spec["model"].is_string() || !spec["data"].is_string()) {
    out.note = "No base-model row: the experiment's trials are not engine trials.";
    return out;
  }
  fs::path model = spec["model"].get<std::string>(), data = spec["data"].get<std::string>();
  if (model.is_relative() || data.is_relative()) {
    const auto dir = find_spec_dir(options, store, e);
    if (!dir) {
      out.note = "No base-model row: the spec's relative model path '" + model.string() +
                 "' needs the spec's folder; run from it or pass --spec-dir.";
      return out;
    }
    if (model.is_relative()) model = *dir / model;
    if (data.is_relative()) data = *dir / data;
  }
  if (!fs::is_directory(model) || !fs::is_directory(data)) {
    out.note = "No base-model row: " + (fs::is_directory(model) ? data : model).string() + " is not a folder.";
    return out;
  }
  out.parameters = engine::ModelConfig::load(model).parameter_count();
  if (options.no_base) return out;

  json config = worker::engine_trial_config(spec.value("fixed", json::object()), json::object());
  config["model"] = model.string();
  config["data"] = data.string();
  const auto train = engine::TrainConfig::from_json(config);
  // An oversubscribed OpenMP team is slow on a busy machine; default to what the trials used.
  engine::set_num_threads(options.threads >= 0 ? options.threads : train.threads);
  const auto model_config = engine::ModelConfig::load(model);
  const auto tokenizer = engine::load_tokenizer(model);
  engine::DataOptions data_options;
  data_options.max_seq_length = std::min(train.max_seq_length, model_config.max_position_embeddings);
  data_options.mask_prompt = train.mask_prompt;
  data_options.add_eos = train.add_eos;
  // A rank-1 LoRA on one block: B starts at zero, so its output is the base model's exactly.
  engine::AdapterConfig adapter;
  adapter.type = engine::FineTuneType::kLora;
  adapter.rank = 1;
  adapter.num_layers = 1;
  const engine::TrainableModel tm = engine::load_trainable_model(model, adapter, train.seed);

  coordinator::BaseModelScores scores;
  const auto valid = engine::load_split(data, "valid", *tokenizer, data_options);
  scores.val_loss = engine::evaluate_loss(tm, valid, train.batch_size, -1).loss;
  scores.val_ppl = std::exp(scores.val_loss);
  if (train.test && fs::exists(data / "test.jsonl")) {
    const auto test = engine::load_split(data, "test", *tokenizer, data_options);
    scores.test_loss = engine::evaluate_loss(tm, test, train.batch_size, train.test_batches).loss;
    scores.test_ppl = std::exp(*scores.test_loss);
  }
  out.scores = scores;
  return out;
}

int run_report(const ReportOptions& options) {
  require_folder("--spec-dir", options.spec_dir);
  const auto format = coordinator::report_format_from(options.format);
  auto store = schema::Store::open_reader(options.db);
  const auto experiment = store.find_experiment(options.experiment);
  if (!experiment) {
    std::string names;
    for (const auto& e : store.experiments()) names += (names.empty() ? "" : ", ") + e.name;
    throw std::runtime_error("no experiment '" + options.experiment + "' in " + options.db +
                             (names.empty() ? " (it has none)" : "; it has: " + names));
  }
  const BaseRow base = base_row(options, store, *experiment);
  coordinator::ReportContext context;
  context.base = base.scores;
  context.model_parameters = base.parameters;
  if (!options.no_base) context.note = base.note;

  const std::string text = coordinator::render_report(store, *experiment, format, context);
  if (options.output.empty() || options.output == "-") {
    std::cout << text;
    return kExitOk;
  }
  std::ofstream file(options.output, std::ios::binary);
  if (!file) throw std::runtime_error("cannot write " + options.output);
  file << text;
  file.close();
  if (!file) throw std::runtime_error("failed writing " + options.output);
  std::cerr << "wrote " << options.output << " (" << text.size() << " bytes)\n";
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
  app->add_flag("--no-base", options->no_base, "Do not evaluate the untrained base model for the reference row");
  app->add_option("--spec-dir", options->spec_dir, "Folder of the sweep spec (its relative model/data paths resolve against it)");
  app->add_option("--threads", options->threads, "Threads for the base-model evaluation (0 = all cores; default: the spec's fixed.threads, as the trials ran)")->capture_default_str();
  app->footer(
      "runs/quickstart.db comes from scripts/quickstart.sh.\nExamples:\n"
      "  lorafarm report quickstart --db runs/quickstart.db --format html -o runs/quickstart.html\n"
      "  lorafarm report quickstart --db runs/quickstart.db --format md\n"
      "  lorafarm report command-demo --db /tmp/demo.db --format json -o /tmp/demo.json\n"
      "The base-model row needs the model and data folders of an engine sweep; relative paths in the spec are found\n"
      "via the spec file (searched in the working directory, the database's folder and their subfolders) or --spec-dir.");
  return {app, [options] { return run_report(*options); }};
}

}  // namespace lorafarm::cli
