// Forward (evaluation) throughput: tokens/s of the forward pass plus loss on
// the bundled stories260K model (its TinyStories valid split) and on a
// randomly initialised `medium` config (batches of 4 × 256 random tokens).
// Prints one JSON object. Usage: forward_bench [--threads N] [--medium-batches N]
#include <chrono>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>

#include "engine/evaluate.h"
#include "engine/forward.h"
#include "engine/model.h"
#include "engine/tensor.h"
#include "engine/tokenizer.h"

using namespace lorafarm::engine;

namespace {

nlohmann::json bench_bundled() {
  const std::filesystem::path folder = std::filesystem::path(LORAFARM_SOURCE_DIR) / "examples/models/stories260K";
  const Model model = Model::load(folder);
  const auto tokenizer = load_tokenizer(folder);
  const auto samples = load_text_split(std::filesystem::path(LORAFARM_SOURCE_DIR) / "examples/data/tinystories",
                                       "valid", *tokenizer, 512);
  EvalOptions options;
  const EvalResult r = evaluate_sequences(model, samples, options);
  return {{"model", "stories260K"}, {"data", "tinystories/valid"}, {"tokens", r.tokens},
          {"seconds", r.seconds}, {"tokens_per_second", r.tokens_per_second}, {"loss", r.loss}};
}

nlohmann::json bench_medium(int batches) {
  const ModelConfig config = preset_config("medium");
  const Model model = Model::random(config, 1);
  std::mt19937 rng(7);
  std::uniform_int_distribution<TokenId> token(0, config.vocab_size - 1);
  std::vector<std::vector<TokenId>> sequences(4, std::vector<TokenId>(256));
  double seconds = 0;
  int64_t tokens = 0;
  for (int i = 0; i <= batches; ++i) {
    for (auto& s : sequences) {
      for (auto& t : s) t = token(rng);
    }
    const auto start = std::chrono::steady_clock::now();
    const Matrix logits = forward(model, TokenBatch::from_sequences(sequences));
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (i == 0) continue;  // warm-up
    seconds += elapsed;
    tokens += 4 * 256;
  }
  const double flops_per_token = 2.0 * static_cast<double>(config.parameter_count());
  return {{"model", "medium (random)"}, {"parameters", config.parameter_count()}, {"batch", "4x256"},
          {"tokens", tokens}, {"seconds", seconds}, {"tokens_per_second", tokens / seconds},
          {"approx_gflops", flops_per_token * tokens / seconds / 1e9}};
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 0;
  int medium_batches = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--threads") == 0) threads = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--medium-batches") == 0) medium_batches = std::atoi(argv[i + 1]);
  }
  set_num_threads(threads);
  nlohmann::json out = {{"benchmark", "forward"}, {"threads", num_threads()}};
  out["results"] = {bench_bundled(), bench_medium(medium_batches)};
  std::cout << out.dump(2) << "\n";
}
