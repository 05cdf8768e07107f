// `lorafarm validate`: a self-check after install. Loads the bundled model,
// checks trainable-parameter counts per method and a gradient against finite
// differences, trains a few steps (the loss must fall), and checks that
// generation is not degenerate. `lorafarm validate SPEC` checks a sweep spec
// instead (cli/spec_check.h).
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <unistd.h>

#include "cli/command.h"
#include "cli/input_paths.h"
#include "cli/spec_check.h"
#include "engine/error.h"
#include "engine/generate.h"
#include "engine/model.h"
#include "engine/tokenizer.h"
#include "engine/trainer.h"

namespace lorafarm::cli {
namespace {

struct ValidateOptions {
  std::string spec;  // a sweep spec to check instead of the engine
  std::string model = "examples/models/stories260K";
  std::string data = "examples/data/fortunes";
  int threads = 0;
  bool json = false;
};

// The checks' outcomes: printed as they come, or kept for one JSON document.
class Checklist {
 public:
  explicit Checklist(bool json) : json_(json) {}
  bool add(const std::string& name, bool ok, const std::string& detail) {
    checks_.push_back({{"name", name}, {"ok", ok}, {"detail", detail}});
    if (!json_) std::cout << (ok ? "ok    " : "FAIL  ") << detail << std::endl;
    return ok;
  }
  const nlohmann::json& checks() const { return checks_; }

 private:
  bool json_;
  nlohmann::json checks_ = nlohmann::json::array();
};

bool check_counts(const engine::Model& base, Checklist& report) {
  bool ok = true;
  for (const char* type : {"lora", "dora", "full"}) {
    engine::AdapterConfig config;
    config.type = engine::parse_fine_tune_type(type);
    const engine::TrainableModel tm(base, config, 0);
    const int64_t expected = engine::expected_trainable_params(base.config, config);
    ok &= report.add(std::string("trainable_params_") + type, tm.trainable_params() == expected,
                     std::string(type) + " trainable parameters " +
                                                        std::to_string(tm.trainable_params()) + " (closed form " +
                                                        std::to_string(expected) + ")");
  }
  return ok;
}

// d loss / d θ along a random direction of the LoRA parameters, analytic vs central differences.
bool check_gradient(const engine::Model& base, Checklist& report) {
  engine::AdapterConfig config;
  engine::TrainableModel tm(base, config, 1);
  std::mt19937_64 rng(5);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  for (const engine::ParamRef& p : tm.parameters()) {
    for (int64_t i = 0; i < p.size; ++i) p.value[i] += p.name.ends_with("lora_b") ? normal(rng) : 0.0f;
  }
  engine::TrainBatch batch;
  const std::vector<engine::TokenId> seq = {1, 403, 407, 261, 378, 395, 302, 500, 259, 66, 297, 310};
  batch.batch = 1;
  batch.length = static_cast<int>(seq.size()) - 1;
  batch.inputs.assign(seq.begin(), seq.end() - 1);
  batch.targets.assign(seq.begin() + 1, seq.end());
  batch.weights.assign(batch.inputs.size(), 1.0f);
  tm.zero_grad();
  tm.forward_backward(batch, 1.0f, false, 0);
  std::vector<std::vector<float>> direction;
  double analytic = 0;
  for (const engine::ParamRef& p : tm.parameters()) {
    direction.emplace_back(static_cast<std::size_t>(p.size));
    for (int64_t i = 0; i < p.size; ++i) {
      direction.back()[static_cast<std::size_t>(i)] = normal(rng);
      analytic += static_cast<double>(p.grad[i]) * direction.back()[static_cast<std::size_t>(i)];
    }
  }
  auto shifted = [&](double h) {
    for (std::size_t k = 0; k < direction.size(); ++k) {
      const engine::ParamRef& p = tm.parameters()[k];
      for (int64_t i = 0; i < p.size; ++i) p.value[i] += static_cast<float>(h * direction[k][static_cast<std::size_t>(i)]);
    }
    const double l = tm.loss(batch).sum;
    for (std::size_t k = 0; k < direction.size(); ++k) {
      const engine::ParamRef& p = tm.parameters()[k];
      for (int64_t i = 0; i < p.size; ++i) p.value[i] -= static_cast<float>(h * direction[k][static_cast<std::size_t>(i)]);
    }
    return l;
  };
  const double h = 1e-2;
  const double numeric = (shifted(h) - shifted(-h)) / (2 * h);
  char line[160];
  std::snprintf(line, sizeof line, "LoRA gradient along a random direction: analytic %.5f, finite differences %.5f",
                analytic, numeric);
  return report.add("gradient", std::abs(analytic - numeric) <= 2e-3 + 2e-2 * std::abs(numeric), line);
}

bool check_training(const ValidateOptions& options, Checklist& report) {
  const auto dir = std::filesystem::temp_directory_path() / ("lorafarm-validate-" + std::to_string(::getpid()));
  engine::TrainConfig config;
  config.model = options.model;
  config.data = options.data;
  config.iters = 40;
  config.batch_size = 4;
  config.learning_rate = 1e-3;
  config.max_seq_length = 128;
  config.steps_per_report = 1000;
  config.steps_per_eval = 1000;
  config.val_batches = 5;
  config.save_every = 0;
  config.test = false;
  config.threads = options.threads;
  config.adapter_path = dir.string();
  const engine::TrainResult r = engine::train(config);
  std::filesystem::remove_all(dir);
  double first = 0, last = 0;
  for (int i = 0; i < 10; ++i) {
    first += r.step_losses[static_cast<std::size_t>(i)] / 10;
    last += r.step_losses[r.step_losses.size() - 1 - static_cast<std::size_t>(i)] / 10;
  }
  char line[160];
  std::snprintf(line, sizeof line, "LoRA training: mean loss of steps 1-10 %.3f, of steps 31-40 %.3f", first, last);
  return report.add("training", last < first - 0.05, line);
}

bool check_generation(const engine::Model& model, const engine::Tokenizer& tokenizer, Checklist& report) {
  std::vector<engine::TokenId> prompt;
  if (tokenizer.add_bos()) prompt.push_back(*tokenizer.bos_id());
  const auto ids = tokenizer.encode("Once upon a time");
  prompt.insert(prompt.end(), ids.begin(), ids.end());
  engine::GenerateOptions g;
  g.max_tokens = 40;
  const auto out = engine::generate(model, prompt, g);
  const std::set<engine::TokenId> distinct(out.begin(), out.end());
  return report.add("generation", out.size() >= 20 && distinct.size() >= 8,
                "generation: " + std::to_string(out.size()) + " tokens, " + std::to_string(distinct.size()) +
                    " distinct: \"" + tokenizer.decode(out).substr(0, 60) + "...\"");
}

int run_validate(const ValidateOptions& options) {
  require_folder("--model", options.model);
  require_folder("--data", options.data);
  if (!std::filesystem::exists(std::filesystem::path(options.model) / "config.json")) {
    throw engine::InvalidInput(options.model + ": no model here; pass --model examples/models/stories260K from the source tree");
  }
  engine::set_num_threads(options.threads);
  const engine::Model base = engine::Model::load(options.model);
  const auto tokenizer = engine::load_tokenizer(options.model);
  Checklist report(options.json);
  bool ok = check_counts(base, report);
  ok &= check_gradient(base, report);
  ok &= check_generation(base, *tokenizer, report);
  ok &= check_training(options, report);
  if (options.json) {
    std::cout << nlohmann::json{{"model", options.model}, {"data", options.data}, {"ok", ok}, {"checks", report.checks()}}.dump(2)
              << "\n";
  } else {
    std::cout << (ok ? "all checks passed" : "some checks FAILED") << std::endl;
  }
  return ok ? kExitOk : kExitError;
}

}  // namespace

Command add_validate_command(CLI::App& root) {
  auto options = std::make_shared<ValidateOptions>();
  CLI::App* app = root.add_subcommand("validate", "Self-check the engine on the bundled model, or check a sweep spec");
  app->add_option("spec", options->spec, "A sweep spec: check it and print what each trial runs (command, files, collectors)");
  app->add_option("--model", options->model, "Model folder")->capture_default_str();
  app->add_option("--data", options->data, "Data folder")->capture_default_str();
  app->add_option("--threads", options->threads, "Threads (0 = all cores)")->capture_default_str();
  app->add_flag("--json", options->json, "Print one JSON object {model, data, ok, checks: [{name, ok, detail}]}");
  app->footer(
      "Exit status 0 when every check passes, 1 when one fails.\n"
      "From the source tree; elsewhere pass --model and --data.\nExamples:\n"
      "  lorafarm validate\n"
      "  lorafarm validate --threads 1 --json\n"
      "  lorafarm validate --model examples/models/stories260K --data examples/data/tinystories\n"
      "  lorafarm validate examples/mlx_lm_sweep.json     (a spec: its trials' expanded command and collectors)");
  return {app, [options] { return options->spec.empty() ? run_validate(*options) : check_spec(options->spec, options->json, std::cout); }};
}

}  // namespace lorafarm::cli
