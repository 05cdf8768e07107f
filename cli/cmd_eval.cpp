// `lorafarm eval`: loss and perplexity of a model on a data split.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "engine/adapter_io.h"
#include "engine/error.h"
#include "engine/evaluate.h"
#include "engine/model.h"
#include "engine/quantized_model_io.h"
#include "engine/tensor.h"
#include "engine/tokenizer.h"

namespace lorafarm::cli {
namespace {

struct EvalCommandOptions {
  std::string model;
  std::string data;
  std::string adapter;
  int rank = 0;  // a nested-rank adapter's prefix (0 = the whole adapter)
  std::string split = "valid";
  int max_seq_length = 2048;
  int batch_size = 8;
  int threads = 0;
  bool json = false;
};

int run_eval(const EvalCommandOptions& options) {
  engine::set_num_threads(options.threads);
  // With an adapter, the model is the base with the adapter merged in.
  const engine::Model model = engine::load_inference_model(options.model, options.adapter, options.rank);
  const auto tokenizer = engine::load_tokenizer(options.model);
  engine::EvalOptions eval;
  eval.max_seq_length = options.max_seq_length;
  eval.batch_size = options.batch_size;
  const engine::EvalResult r = engine::evaluate_split(model, *tokenizer, options.data, options.split, eval);
  if (options.json) {
    std::cout << nlohmann::json{{"split", options.split}, {"loss", r.loss}, {"perplexity", r.perplexity},
                                {"tokens", r.tokens}, {"samples", r.samples}, {"seconds", r.seconds},
                                {"tokens_per_second", r.tokens_per_second}}
                     .dump()
              << "\n";
    return kExitOk;
  }
  std::cout.setf(std::ios::fixed);
  std::cout.precision(4);
  std::cout << options.split << ": loss " << r.loss << " nats/token, perplexity " << r.perplexity << ", "
            << r.tokens << " tokens in " << r.samples << " samples";
  std::cout.precision(0);
  std::cout << ", " << r.tokens_per_second << " tokens/s\n";
  return kExitOk;
}

}  // namespace

Command add_eval_command(CLI::App& root) {
  auto options = std::make_shared<EvalCommandOptions>();
  CLI::App* app = root.add_subcommand("eval", "Mean cross-entropy and perplexity on a data split");
  app->add_option("--model", options->model, "Model folder")->required()->check(CLI::ExistingDirectory);
  app->add_option("--data", options->data, "Data folder with {train,valid,test}.jsonl")->required()->check(CLI::ExistingDirectory);
  app->add_option("--adapter", options->adapter, "Adapter folder (mlx-lm or PEFT layout) to apply")->check(CLI::ExistingDirectory);
  app->add_option("--rank", options->rank, "Use only the first N rank dimensions of a nested-rank (--dynamic-rank) adapter")
      ->check(CLI::PositiveNumber);
  app->add_option("--split", options->split, "Split to score")->check(CLI::IsMember({"train", "valid", "test"}))->capture_default_str();
  app->add_option("--max-seq-length", options->max_seq_length, "Cut samples at this many tokens")->check(CLI::PositiveNumber)->capture_default_str();
  app->add_option("--batch-size", options->batch_size, "Samples per forward pass")->check(CLI::PositiveNumber)->capture_default_str();
  app->add_option("--threads", options->threads, "Threads (0 = all cores)")->capture_default_str();
  app->add_flag("--json", options->json, "Print one JSON object");
  app->footer("Example:\n  lorafarm eval --model examples/models/stories260K --data examples/data/fortunes --split valid");
  return {app, [options] { return run_eval(*options); }};
}

}  // namespace lorafarm::cli
