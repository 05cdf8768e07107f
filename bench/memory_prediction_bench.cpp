// The peak-memory predictor (engine/batch_sizing.h) against measured peak RSS.
// Each cell (model × method × batch × precision) is one `lorafarm train`
// child process of --steps steps on sequences of --length tokens, so its peak
// RSS (VmHWM) is its own; the child's final JSON line gives the measured peak
// and the prediction made from the config before training. One JSON line per
// cell, then a summary line with the max and median absolute relative error
// and the fixed overhead the cells imply (measured minus the tally, median).
//
//   memory_prediction_bench [--lorafarm PATH] [--steps 1] [--length 256] [--batches 1,4,8] [--threads 2]
//                           [--models stories260K,TinyStories-656K,medium] [--methods lora,dora,qlora,full]
//                           [--precisions fp32,bf16]
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bf16_checkpoint.h"
#include "engine/memory.h"

namespace fs = std::filesystem;

namespace {

struct Args {
  fs::path lorafarm;
  int steps = 1, length = 256, threads = 2;
  std::vector<std::string> models{"stories260K", "TinyStories-656K", "medium"};
  std::vector<std::string> methods{"lora", "dora", "qlora", "full"};
  std::vector<std::string> batches{"1", "4", "8"};
  std::vector<std::string> precisions{"fp32", "bf16"};
};

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) out.push_back(item);
  return out;
}

// Every sample is three stories long, longer than --length tokens in either
// bundled tokenizer, so every batch is batch × length tokens (cut to length).
void write_data(const fs::path& dir) {
  std::ifstream in(std::string(LORAFARM_SOURCE_DIR) + "/examples/data/tinystories/train.jsonl");
  std::vector<std::string> stories;
  for (std::string line; std::getline(in, line);) stories.push_back(nlohmann::json::parse(line)["text"]);
  fs::create_directories(dir);
  auto write = [&](const std::string& name, int count, std::size_t first) {
    std::ofstream out(dir / name);
    for (int i = 0; i < count; ++i) {
      std::string text;
      for (std::size_t k = 0; k < 3; ++k) text += stories[(first + 3 * i + k) % stories.size()] + "\n\n";
      out << nlohmann::json{{"text", text}}.dump() << "\n";
    }
  };
  write("train.jsonl", 32, 0);
  write("valid.jsonl", 2, 100);
}

// `medium` as a random-init bf16 checkpoint, with stories260K's tokenizer (its ids fit any vocabulary).
fs::path write_medium(const fs::path& dir) {
  const fs::path folder = lorafarm::bench::write_bf16_checkpoint("medium", dir);
  const fs::path tokenizer = fs::path(LORAFARM_SOURCE_DIR) / "examples/models/stories260K";
  for (const char* name : {"tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json"}) {
    if (fs::exists(tokenizer / name)) fs::copy_file(tokenizer / name, folder / name);
  }
  return folder;
}

// The child's final JSON line (throws with its stderr when it fails).
nlohmann::json run_cell(const Args& args, const fs::path& model, const fs::path& data, const fs::path& work,
                        const std::string& method, const std::string& batch, const std::string& precision) {
  std::ostringstream command;
  command << args.lorafarm << " train --model " << model << " --data " << data << " --fine-tune-type " << method
          << " --batch-size " << batch << " --iters " << args.steps << " --max-seq-length " << args.length
          << " --precision " << precision << " --threads " << args.threads
          << " --learning-rate 1e-4 --steps-per-eval 1000000 --save-every 0 --adapter-path " << (work / "adapter")
          << " --json 2>" << (work / "stderr.txt");
  FILE* pipe = ::popen(command.str().c_str(), "r");
  if (!pipe) throw std::runtime_error("cannot start " + command.str());
  std::string last;
  char buffer[1 << 14];
  while (std::fgets(buffer, sizeof buffer, pipe)) {
    if (std::string(buffer).find("\"final\"") != std::string::npos) last = buffer;
  }
  if (::pclose(pipe) != 0 || last.empty()) {
    std::ifstream err(work / "stderr.txt");
    throw std::runtime_error(command.str() + " failed: " + std::string(std::istreambuf_iterator<char>(err), {}));
  }
  return nlohmann::json::parse(last);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

Args parse_args(int argc, char** argv) {
  Args args;
  args.lorafarm = fs::absolute(argv[0]).parent_path().parent_path() / "lorafarm";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has = i + 1 < argc;
    if (a == "--lorafarm" && has) args.lorafarm = argv[++i];
    else if (a == "--steps" && has) args.steps = std::atoi(argv[++i]);
    else if (a == "--length" && has) args.length = std::atoi(argv[++i]);
    else if (a == "--threads" && has) args.threads = std::atoi(argv[++i]);
    else if (a == "--batches" && has) args.batches = split_list(argv[++i]);
    else if (a == "--models" && has) args.models = split_list(argv[++i]);
    else if (a == "--methods" && has) args.methods = split_list(argv[++i]);
    else if (a == "--precisions" && has) args.precisions = split_list(argv[++i]);
    else throw std::invalid_argument("unknown argument " + a + " (see the usage at the top of bench/memory_prediction_bench.cpp)");
  }
  return args;
}

}  // namespace

int main(int argc, char** argv) {
  const fs::path work = fs::temp_directory_path() / ("memory_prediction_bench." + std::to_string(::getpid()));
  int status = 0;
  try {
    const Args args = parse_args(argc, argv);
    write_data(work / "data");
    std::vector<double> errors, implied_overheads;
    for (const std::string& name : args.models) {
      const fs::path model = name == "medium" ? write_medium(work / "medium")
                                              : fs::path(LORAFARM_SOURCE_DIR) / "examples/models" / name;
      for (const auto& method : args.methods)
        for (const auto& batch : args.batches)
          for (const auto& precision : args.precisions) {
            const nlohmann::json final = run_cell(args, model, work / "data", work, method, batch, precision);
            const double predicted = final["predicted_peak_rss_mb"], measured = final["peak_rss_mb"];
            const double error = (predicted - measured) / measured;
            errors.push_back(std::abs(error));
            implied_overheads.push_back(measured - (predicted - lorafarm::engine::process_overhead_mb()));
            std::cout << nlohmann::json{{"model", name},          {"method", method},
                                        {"batch", std::stoi(batch)}, {"seq_length", args.length},
                                        {"precision", final["precision"]}, {"predicted_mb", predicted},
                                        {"measured_mb", measured}, {"relative_error", error}}
                             .dump()
                      << std::endl;
          }
    }
    const auto within = std::count_if(errors.begin(), errors.end(), [](double e) { return e <= 0.10; });
    std::cout << nlohmann::json{{"cells", errors.size()},
                                {"max_abs_relative_error", *std::max_element(errors.begin(), errors.end())},
                                {"median_abs_relative_error", median(errors)},
                                {"cells_within_10_percent", within},
                                // What re-fitting the fixed overhead would set it to (measured minus tally, median).
                                {"process_overhead_mb", lorafarm::engine::process_overhead_mb()},
                                {"implied_overhead_mb_median", median(implied_overheads)}}
                     .dump()
              << std::endl;
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    status = 1;
  }
  fs::remove_all(work);
  return status;
}
