// bf16 mixed precision against fp32 on the fortunes acceptance run
// (tests/acceptance/fortunes_margins_test.cpp's LoRA settings: 300
// iterations, batch 8, rank 8, scale 20, max_seq_length 256, lr 1e-3, seed 0,
// one thread). Each precision trains, then the adapter is scored as the data
// README scores it (`lorafarm eval`'s path: BOS + ids, cut at 256, fp32
// products). Prints one JSON object with both runs and their ratio.
//
//   precision_fortunes_bench [--iters 300] [--threads 1]
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <unistd.h>

#include "engine/adapter_io.h"
#include "engine/evaluate.h"
#include "engine/precision.h"
#include "engine/tokenizer.h"
#include "engine/trainer.h"

using namespace lorafarm::engine;
namespace fs = std::filesystem;

namespace {

const fs::path kModel = fs::path(LORAFARM_SOURCE_DIR) / "examples/models/stories260K";
const fs::path kData = fs::path(LORAFARM_SOURCE_DIR) / "examples/data/fortunes";

nlohmann::json run(Precision precision, int iters, int threads, const fs::path& dir) {
  TrainConfig c;
  c.model = kModel.string();
  c.data = kData.string();
  c.iters = iters;
  c.batch_size = 8;
  c.adapter.rank = 8;
  c.adapter.scale = 20;
  c.max_seq_length = 256;
  c.learning_rate = 1e-3;
  c.steps_per_report = 50;
  c.steps_per_eval = 100000;
  c.save_every = 0;
  c.threads = threads;
  c.seed = 0;
  c.precision = precision;
  c.adapter_path = (dir / precision_name(precision)).string();
  const auto start = std::chrono::steady_clock::now();
  const TrainResult r = train(c);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const Model merged = load_inference_model(kModel, c.adapter_path, 0);
  EvalOptions eval;
  eval.max_seq_length = 256;
  const EvalResult scored = evaluate_split(merged, *load_tokenizer(kModel), kData, "valid", eval);
  return {{"precision", precision_name(r.precision)},
          {"train_val_ppl", r.val_ppl},
          {"readme_scored_valid_ppl", scored.perplexity},
          {"final_train_loss", r.step_losses.back()},
          {"train_tokens_per_second", r.tokens_per_second},
          {"wall_seconds", seconds}};
}

}  // namespace

int main(int argc, char** argv) {
  int iters = 300, threads = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--iters" && i + 1 < argc) iters = std::atoi(argv[++i]);
    else if (a == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
    else {
      std::cerr << "usage: precision_fortunes_bench [--iters N] [--threads N]\n";
      return 2;
    }
  }
  if (!bf16_products_supported()) std::cerr << "this CPU has no AVX-512 BF16: the bf16 run uses fp32 products\n";
  const fs::path dir = fs::temp_directory_path() / ("precision_fortunes_bench." + std::to_string(::getpid()));
  const nlohmann::json fp32 = run(Precision::kF32, iters, threads, dir);
  const nlohmann::json bf16 = run(Precision::kBF16, iters, threads, dir);
  fs::remove_all(dir);
  auto ratio = [&](const char* key) { return bf16[key].get<double>() / fp32[key].get<double>(); };
  std::cout << nlohmann::json{{"iters", iters},
                              {"fp32", fp32},
                              {"bf16", bf16},
                              {"readme_scored_ppl_ratio", ratio("readme_scored_valid_ppl")},
                              {"train_val_ppl_ratio", ratio("train_val_ppl")}}
                   .dump(2)
            << std::endl;
  return 0;
}
