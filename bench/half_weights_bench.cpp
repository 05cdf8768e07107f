// Frozen 16-bit weights: LoRA training on a bf16 checkpoint with its frozen
// weights kept bf16 (converted while packing) against today's path, which
// widens every weight to float32 at load. One run compares both: each path
// trains in its own child process (so its peak RSS is its own) on the same
// batches, and the parent prints one JSON object with both and their ratios.
//
//   half_weights_bench [--model medium] [--threads 2] [--steps 3] [--batch 4] [--length 256] [--grad-checkpoint]
//   half_weights_bench --one FOLDER widened|kept ...   (one path, one JSON line)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <sys/resource.h>
#include <unistd.h>

#include "bench/bf16_checkpoint.h"
#include "bench/bench_support.h"
#include "engine/fuse.h"
#include "engine/memory.h"
#include "engine/model.h"
#include "engine/optimizer.h"
#include "engine/safetensors.h"
#include "engine/trainable_model.h"

using namespace lorafarm::engine;
namespace fs = std::filesystem;

namespace {

using lorafarm::bench::cpu_seconds;
using lorafarm::bench::random_batch;

struct Args {
  std::string model = "medium";
  int threads = 2, steps = 3, batch = 4, length = 256;
  bool grad_checkpoint = false;
  std::string one_folder, one_path;
};

// One path: load, one warm-up step, `steps` timed LoRA steps; their losses.
int run_one(const Args& args) {
  set_num_threads(args.threads);
  const bool kept = args.one_path == "kept";
  const auto load_start = std::chrono::steady_clock::now();
  Model model = Model::load(args.one_folder, {.keep_16bit = kept});
  const double load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();
  const double rss_after_load = current_rss_mb();
  TrainableModel tm(std::move(model), AdapterConfig{}, 1);
  AdamW optimizer(tm.parameters(), {});
  const int vocab = tm.model().config.vocab_size;
  nlohmann::json losses = nlohmann::json::array();
  auto step = [&](uint64_t seed) {
    const TrainBatch data = random_batch(vocab, args.batch, args.length, seed);
    tm.zero_grad();
    const auto loss = tm.forward_backward(data, 1.0f / static_cast<float>(data.loss_tokens()), args.grad_checkpoint, seed);
    optimizer.step(tm.parameters(), 1e-4);
    losses.push_back(loss.sum / static_cast<double>(loss.tokens));
  };
  step(100);  // warm-up: allocations, page faults
  const auto start = std::chrono::steady_clock::now();
  const double cpu_start = cpu_seconds();
  for (int i = 0; i < args.steps; ++i) step(static_cast<uint64_t>(i));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double cpu = cpu_seconds() - cpu_start;
  const nlohmann::json out = {{"path", args.one_path},
                              {"tokens_per_second", double(args.steps) * args.batch * args.length / seconds},
                              {"seconds_per_step", seconds / args.steps},
                              {"tokens_per_cpu_second", double(args.steps) * args.batch * args.length / cpu},
                              {"load_seconds", load_seconds},
                              {"rss_after_load_mb", rss_after_load},
                              {"peak_rss_mb", peak_rss_mb()},
                              {"losses", losses}};
  std::cout << out.dump() << std::endl;
  return 0;
}

nlohmann::json run_child(const std::string& self, const Args& args, const fs::path& folder, const std::string& path) {
  std::ostringstream command;
  command << self << " --threads " << args.threads << " --steps " << args.steps << " --batch " << args.batch
          << " --length " << args.length << (args.grad_checkpoint ? " --grad-checkpoint" : "") << " --one "
          << folder.string() << " " << path;
  FILE* pipe = ::popen(command.str().c_str(), "r");
  if (!pipe) throw std::runtime_error("cannot start " + command.str());
  std::string text;
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe)) text += buffer;
  if (::pclose(pipe) != 0) throw std::runtime_error(path + " run failed: " + text);
  return nlohmann::json::parse(text);
}

double max_relative_gap(const nlohmann::json& a, const nlohmann::json& b) {
  double gap = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    gap = std::max(gap, std::abs(a[i].get<double>() - b[i].get<double>()) / std::abs(b[i].get<double>()));
  }
  return gap;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--model" && i + 1 < argc) args.model = argv[++i];
    else if (a == "--threads" && i + 1 < argc) args.threads = std::atoi(argv[++i]);
    else if (a == "--steps" && i + 1 < argc) args.steps = std::atoi(argv[++i]);
    else if (a == "--batch" && i + 1 < argc) args.batch = std::atoi(argv[++i]);
    else if (a == "--length" && i + 1 < argc) args.length = std::atoi(argv[++i]);
    else if (a == "--grad-checkpoint") args.grad_checkpoint = true;
    else if (a == "--one" && i + 2 < argc) {
      args.one_folder = argv[++i];
      args.one_path = argv[++i];
    } else {
      std::cerr << "usage: half_weights_bench [--model P] [--threads N] [--steps N] [--batch N] [--length N] "
                   "[--grad-checkpoint] | --one FOLDER widened|kept\n";
      return 2;
    }
  }
  if (!args.one_folder.empty()) return run_one(args);
  const fs::path dir = fs::temp_directory_path() / ("half_weights_bench." + std::to_string(::getpid()));
  const fs::path folder = lorafarm::bench::write_bf16_checkpoint(args.model, dir);
  int status = 0;
  try {
    const nlohmann::json widened = run_child(argv[0], args, folder, "widened");
    const nlohmann::json kept = run_child(argv[0], args, folder, "kept");
    const nlohmann::json out = {
        {"model", args.model + " (random init, bf16 checkpoint)"},
        {"method", "lora"},
        {"threads", args.threads},
        {"batch", args.batch},
        {"seq_length", args.length},
        {"grad_checkpoint", args.grad_checkpoint},
        {"widened_fp32", widened},
        {"kept_bf16", kept},
        {"peak_rss_ratio", kept["peak_rss_mb"].get<double>() / widened["peak_rss_mb"].get<double>()},
        {"tokens_per_second_ratio",
         kept["tokens_per_second"].get<double>() / widened["tokens_per_second"].get<double>()},
        {"tokens_per_cpu_second_ratio",
         kept["tokens_per_cpu_second"].get<double>() / widened["tokens_per_cpu_second"].get<double>()},
        {"max_relative_loss_gap", max_relative_gap(kept["losses"], widened["losses"])}};
    std::cout << out.dump(2) << std::endl;
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    status = 1;
  }
  fs::remove_all(dir);
  return status;
}
