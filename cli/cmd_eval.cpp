// `lorafarm eval`: loss and perplexity of a model on a data split.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/input_paths.h"
#include "cli/progress.h"
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
  bool add_eos = false;
  bool json = false;
};

// evaluate_split in chunks of whole batches, so the progress line can move
// between them. The batches are the ones evaluate_split forms (same cut, same
// length order), and the token-weighted mean is the same sum, so the result
// equals evaluate_split's up to the last bit of rounding.
engine::EvalResult evaluate_in_chunks(const engine::Model& model, const engine::Tokenizer& tokenizer,
                                      const EvalCommandOptions& options, ProgressLine& progress) {
  const auto started = std::chrono::steady_clock::now();
  auto samples = engine::load_text_split(options.data, options.split, tokenizer, options.max_seq_length, options.add_eos);
  const auto limit = static_cast<std::size_t>(std::min(options.max_seq_length, model.config.max_position_embeddings));
  for (auto& s : samples) {
    if (s.size() > limit) s.resize(limit);
  }
  std::erase_if(samples, [](const auto& s) { return s.size() < 2; });
  if (samples.empty()) throw engine::InvalidInput("nothing to evaluate: no sample has two or more tokens");
  std::stable_sort(samples.begin(), samples.end(), [](const auto& a, const auto& b) { return a.size() < b.size(); });

  // Enough batches per chunk to keep every thread busy; about 100 chunks at most.
  const auto batch = static_cast<std::size_t>(std::max(1, options.batch_size));
  const std::size_t batches = (samples.size() + batch - 1) / batch;
  const std::size_t chunk =
      batch * std::max<std::size_t>(4 * static_cast<std::size_t>(std::max(1, engine::num_threads())), batches / 100 + 1);
  engine::EvalOptions eval;
  eval.max_seq_length = options.max_seq_length;
  eval.batch_size = options.batch_size;
  double loss_sum = 0;
  engine::EvalResult total;
  for (std::size_t begin = 0; begin < samples.size(); begin += chunk) {
    const std::size_t end = std::min(samples.size(), begin + chunk);
    const auto part = engine::evaluate_sequences(
        model, std::vector<std::vector<engine::TokenId>>(samples.begin() + static_cast<std::ptrdiff_t>(begin),
                                                         samples.begin() + static_cast<std::ptrdiff_t>(end)),
        eval);
    loss_sum += part.loss * static_cast<double>(part.tokens);
    total.tokens += part.tokens;
    total.samples += part.samples;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    char detail[96];
    std::snprintf(detail, sizeof detail, "loss %.4f, %s tok/s", loss_sum / static_cast<double>(total.tokens),
                  with_thousands(seconds > 0 ? static_cast<double>(total.tokens) / seconds : 0).c_str());
    progress.update(total.samples, static_cast<int64_t>(samples.size()), detail);
  }
  total.loss = loss_sum / static_cast<double>(total.tokens);
  total.perplexity = std::exp(total.loss);
  total.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  total.tokens_per_second = total.seconds > 0 ? static_cast<double>(total.tokens) / total.seconds : 0;
  return total;
}

int run_eval(const EvalCommandOptions& options) {
  require_folder("--model", options.model);
  require_folder("--data", options.data);
  require_folder("--adapter", options.adapter);
  engine::set_num_threads(options.threads);
  // With an adapter, the model is the base with the adapter merged in.
  const engine::Model model = engine::load_inference_model(options.model, options.adapter, options.rank);
  const auto tokenizer = engine::load_tokenizer(options.model);
  if (options.json) {
    // Scripts get the engine's own single pass, and one JSON object.
    engine::EvalOptions eval;
    eval.max_seq_length = options.max_seq_length;
    eval.batch_size = options.batch_size;
    eval.add_eos = options.add_eos;
    const engine::EvalResult r = engine::evaluate_split(model, *tokenizer, options.data, options.split, eval);
    std::cout << nlohmann::json{{"split", options.split}, {"loss", r.loss}, {"perplexity", r.perplexity},
                                {"tokens", r.tokens}, {"samples", r.samples}, {"seconds", r.seconds},
                                {"tokens_per_second", r.tokens_per_second}}
                     .dump()
              << "\n";
    return kExitOk;
  }
  engine::EvalResult r;
  {
    ProgressLine progress(ProgressLine::mode_for(false, ProgressLine::Mode::kPlain), "eval", "samples");
    r = evaluate_in_chunks(model, *tokenizer, options, progress);
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
  app->add_option("--model", options->model, "Model folder")->required();
  app->add_option("--data", options->data, "Data folder with {train,valid,test}.jsonl")->required();
  app->add_option("--adapter", options->adapter, "Adapter folder (mlx-lm or PEFT layout) to apply");
  app->add_option("--rank", options->rank, "Use only the first N rank dimensions of a nested-rank (--dynamic-rank) adapter")
      ->check(CLI::PositiveNumber);
  app->add_option("--split", options->split, "Split to score")->check(CLI::IsMember({"train", "valid", "test"}))->capture_default_str();
  app->add_option("--max-seq-length", options->max_seq_length, "Cut samples at this many tokens")->check(CLI::PositiveNumber)->capture_default_str();
  app->add_option("--batch-size", options->batch_size, "Samples per forward pass")->check(CLI::PositiveNumber)->capture_default_str();
  app->add_option("--threads", options->threads, "Threads (0 = all cores)")->capture_default_str();
  app->add_flag("--add-eos", options->add_eos,
                "Score an end-of-sequence token after each text, as training and a trial's final evaluation do "
                "(default: BOS + text only, as llama2.c scores)");
  app->add_flag("--json", options->json, "Print one JSON object {split, loss, perplexity, tokens, samples, seconds, tokens_per_second}");
  app->footer(
      "A progress line on a terminal; a plain line every 10 s on a pipe or file; none with --json.\n"
      "Examples:\n"
      "  lorafarm eval --model examples/models/stories260K --data examples/data/fortunes --split valid\n"
      "  lorafarm eval --model examples/models/stories260K --data examples/data/tinystories --split test --json\n"
      "  lorafarm eval --model examples/models/stories260K --data examples/data/fortunes --adapter /tmp/lorafarm-adapter");
  return {app, [options] { return run_eval(*options); }};
}

}  // namespace lorafarm::cli
