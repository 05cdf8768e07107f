// Training throughput: tokens/s, achieved GFLOP/s and peak RSS of LoRA, DoRA,
// QLoRA and full fine-tuning steps on the bundled model and on random `small`
// (and, with --medium, `medium`) models, batch 4 × 256 of random tokens.
// Each configuration runs in its own child process so its peak RSS is its own.
//
//   train_bench [--threads 2] [--steps 5] [--medium] [--precision fp32|bf16|both] [--only MODEL:METHOD,...]
//   train_bench --one MODEL METHOD   (one configuration, one JSON line)
//
// With --precision both, each configuration runs with fp32 and with bf16
// products (engine/precision.h), and a third line gives bf16's speed-up.
//
// Each line also gives the machine's measured FMA peak for the same thread
// count (a register-only loop of independent fused multiply-adds, best of 3)
// and the fraction of it the training step reached.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <sys/resource.h>
#include <thread>
#include <vector>

#if defined(__AVX512F__) || defined(__FMA__)
#include <immintrin.h>
#endif

#include "bench/bench_support.h"
#include "engine/memory.h"
#include "engine/model.h"
#include "engine/optimizer.h"
#include "engine/precision.h"
#include "engine/tensor.h"
#include "engine/trainable_model.h"

using namespace lorafarm::engine;

namespace {

using lorafarm::bench::cpu_seconds;
using lorafarm::bench::random_batch;

struct Args {
  int threads = 2;
  int steps = 5;
  bool medium = false;
  std::string precision = "fp32";  // fp32 | bf16 | both
  std::string only;                // MODEL:METHOD,... ; empty = every configuration
  std::string one_model, one_method;
};

Model make_model(const std::string& name) {
  if (name == "stories260K") return Model::load(std::string(LORAFARM_SOURCE_DIR) + "/examples/models/stories260K");
  return Model::random(preset_config(name), 1);
}

// FLOPs of one training token: 2·N forward; backward 2·N for input gradients
// (frozen weights) plus 2·N for weight gradients when every weight trains;
// attention adds 4·L·d per layer forward (QKᵀ and PV) and twice that backward.
double flops_per_token(const ModelConfig& c, bool full, int length) {
  const double n = static_cast<double>(c.parameter_count());
  const double attention = 3.0 * 4.0 * c.num_layers * length / 2.0 * c.num_heads * c.head_dim;
  return (full ? 6.0 : 4.0) * n + attention;
}

#if defined(__AVX512F__)
using FmaVector = __m512;
inline FmaVector fma_splat(float x) { return _mm512_set1_ps(x); }
inline FmaVector fma_step(FmaVector a, FmaVector b, FmaVector c) { return _mm512_fmadd_ps(a, b, c); }
inline float fma_sum(FmaVector a) {  // not _mm512_reduce_add_ps: GCC 12 warns inside it
  alignas(64) float v[16];
  _mm512_store_ps(v, a);
  float sum = 0;
  for (float x : v) sum += x;
  return sum;
}
#elif defined(__FMA__)
using FmaVector = __m256;
inline FmaVector fma_splat(float x) { return _mm256_set1_ps(x); }
inline FmaVector fma_step(FmaVector a, FmaVector b, FmaVector c) { return _mm256_fmadd_ps(a, b, c); }
inline float fma_sum(FmaVector a) {
  alignas(32) float v[8];
  _mm256_store_ps(v, a);
  return v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
}
#endif

// GFLOP/s of `threads` threads each running 16 independent FMA chains (enough
// to cover the latency of two FMA pipes); 0 without FMA instructions.
double fma_peak_gflops(int threads) {
#if defined(__AVX512F__) || defined(__FMA__)
  constexpr int kChains = 16;
  constexpr long kIterations = 20'000'000;
  constexpr double kFlopsPerIteration = kChains * 2.0 * sizeof(FmaVector) / sizeof(float);
  double best = 0;
  for (int trial = 0; trial < 3; ++trial) {
    std::vector<double> sinks(static_cast<std::size_t>(threads));
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> team;
    for (int t = 0; t < threads; ++t) {
      team.emplace_back([&sinks, t] {
        FmaVector chains[kChains];
        for (auto& c : chains) c = fma_splat(1.0f);
        const FmaVector x = fma_splat(0.9999999f), y = fma_splat(1e-7f);
        for (long i = 0; i < kIterations; ++i) {
#pragma GCC unroll 16
          for (int j = 0; j < kChains; ++j) chains[j] = fma_step(chains[j], x, y);
        }
        double sum = 0;
        for (const auto& c : chains) sum += fma_sum(c);
        sinks[static_cast<std::size_t>(t)] = sum;  // keeps the loop alive
      });
    }
    for (auto& t : team) t.join();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, threads * kIterations * kFlopsPerIteration / seconds / 1e9);
  }
  return best;
#else
  (void)threads;
  return 0;
#endif
}

// Runs one configuration in a child process and returns its JSON line.
nlohmann::json run_child(const std::string& command) {
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return {{"error", "cannot start " + command}};
  std::string text;
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe)) text += buffer;
  ::pclose(pipe);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception&) {
    return {{"error", "unreadable output: " + text}};
  }
}

int run_one(const Args& args) {
  set_num_threads(args.threads);
  const ScopedPrecision products(parse_precision(args.precision));
  if (!products.note().empty()) std::cerr << products.note() << "\n";
  Model model = make_model(args.one_model);
  const ModelConfig config = model.config;
  AdapterConfig adapter;
  if (args.one_method == "qlora") {
    adapter.quantization = QuantizationConfig{};
  } else {
    adapter.type = parse_fine_tune_type(args.one_method);
  }
  const int batch = 4, length = 256;
  TrainableModel tm(std::move(model), adapter, 1);
  AdamW optimizer(tm.parameters(), {});
  const TrainBatch data = random_batch(config.vocab_size, batch, length, 3);
  auto step = [&] {
    tm.zero_grad();
    tm.forward_backward(data, 1.0f / static_cast<float>(data.loss_tokens()), false, 0);
    optimizer.step(tm.parameters(), 1e-4);
  };
  step();  // warm-up: allocations, page faults
  const auto start = std::chrono::steady_clock::now();
  const double cpu_start = cpu_seconds();
  for (int i = 0; i < args.steps; ++i) step();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double cpu = cpu_seconds() - cpu_start;
  const double tokens = static_cast<double>(args.steps) * batch * length;
  const bool full = adapter.type == FineTuneType::kFull;
  const double gflops = tokens * flops_per_token(config, full, length) / seconds / 1e9;
  const MemoryTally predicted = estimate_training_memory(config, adapter, {batch, length, false});
  const double peak = fma_peak_gflops(args.threads);
  nlohmann::json out = {{"model", args.one_model},
                        {"method", args.one_method},
                        {"precision", precision_name(product_precision())},
                        {"threads", args.threads},
                        {"batch", batch},
                        {"seq_length", length},
                        {"steps", args.steps},
                        {"tokens_per_second", tokens / seconds},
                        {"seconds_per_step", seconds / args.steps},
                        {"tokens_per_cpu_second", tokens / cpu},
                        {"gflops", gflops},
                        {"fma_peak_gflops", peak},
                        {"fraction_of_fma_peak", peak > 0 ? gflops / peak : 0.0},
                        {"trainable_params", tm.trainable_params()},
                        {"peak_rss_mb", peak_rss_mb()},
                        {"predicted_peak_rss_mb", predicted_peak_rss_mb(predicted)}};
  std::cout << out.dump() << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) args.threads = std::atoi(argv[++i]);
    else if (a == "--steps" && i + 1 < argc) args.steps = std::atoi(argv[++i]);
    else if (a == "--medium") args.medium = true;
    else if (a == "--precision" && i + 1 < argc) args.precision = argv[++i];
    else if (a == "--only" && i + 1 < argc) args.only = argv[++i];
    else if (a == "--one" && i + 2 < argc) {
      args.one_model = argv[++i];
      args.one_method = argv[++i];
    } else {
      std::cerr << "usage: train_bench [--threads N] [--steps N] [--medium] [--precision fp32|bf16|both] "
                   "[--only MODEL:METHOD,...] | --one MODEL METHOD\n";
      return 2;
    }
  }
  if (!args.one_model.empty()) {
    try {
      return run_one(args);
    } catch (const std::exception& e) {
      std::cout << nlohmann::json{{"model", args.one_model}, {"method", args.one_method}, {"error", e.what()}}.dump()
                << std::endl;
      return 1;
    }
  }
  std::vector<std::string> models = {"stories260K", "small"};
  if (args.medium) models.push_back("medium");
  const std::vector<std::string> precisions =
      args.precision == "both" ? std::vector<std::string>{"fp32", "bf16"} : std::vector<std::string>{args.precision};
  for (const std::string& model : models) {
    for (const char* method : {"lora", "qlora", "dora", "full"}) {
      if (!args.only.empty() && ("," + args.only + ",").find("," + model + ":" + method + ",") == std::string::npos) continue;
      const int steps = model == "medium" ? std::min(args.steps, 3) : args.steps;
      std::vector<nlohmann::json> lines;
      for (const std::string& precision : precisions) {
        const std::string command = std::string(argv[0]) + " --threads " + std::to_string(args.threads) + " --steps " +
                                    std::to_string(steps) + " --precision " + precision + " --one " + model + " " + method;
        std::fflush(stdout);
        lines.push_back(run_child(command));
        std::cout << lines.back().dump() << std::endl;
      }
      if (lines.size() == 2 && lines[0].contains("tokens_per_second") && lines[1].contains("tokens_per_second")) {
        auto ratio = [&](const char* key) { return lines[1][key].get<double>() / lines[0][key].get<double>(); };
        std::cout << nlohmann::json{{"model", model},
                                    {"method", method},
                                    {"bf16_speedup", ratio("tokens_per_second")},
                                    {"bf16_speedup_per_cpu_second", ratio("tokens_per_cpu_second")}}
                         .dump()
                  << std::endl;
      }
    }
  }
  return 0;
}
