// Running examples/hf_lora_trainer.py (the independent PyTorch trainer) as a
// real process: finding a python3 that imports torch, and reading the Hugging
// Face Trainer's printed log dicts.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "test_support.h"

namespace lorafarm::testing {

// LORAFARM_PYTHON, else the first python3 on PATH, else /usr/bin/python3, that
// can `import torch` (a pyenv python3 first on PATH often cannot); "" if none.
inline std::string torch_python() {
  static const std::string found = [] {
    std::vector<std::string> candidates;
    if (const char* forced = std::getenv("LORAFARM_PYTHON")) candidates.emplace_back(forced);
    if (const char* path = std::getenv("PATH")) {
      std::stringstream dirs(path);
      for (std::string dir; std::getline(dirs, dir, ':');) {
        if (!dir.empty()) candidates.push_back(dir + "/python3");
      }
    }
    candidates.emplace_back("/usr/bin/python3");
    for (const auto& python : candidates) {
      if (!std::filesystem::exists(python)) continue;
      if (run_process({python, "-c", "import torch"}).exit_code == 0) return python;
    }
    return std::string();
  }();
  return found;
}

inline std::filesystem::path torch_trainer_script() { return source_dir() / "examples/hf_lora_trainer.py"; }

// Runs the script with `args` under torch_python().
inline ProcessResult run_torch_trainer(const std::vector<std::string>& args) {
  std::vector<std::string> argv{torch_python(), torch_trainer_script().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_process(argv);
}

// The printed log dicts ("{'loss': 2.3456, 'epoch': 0.5}", Python's repr of
// a dict of numbers), one per stdout line, as JSON objects.
inline std::vector<nlohmann::json> hf_log_dicts(const std::string& out) {
  std::vector<nlohmann::json> dicts;
  std::stringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    for (char& c : line) c = c == '\'' ? '"' : c;
    dicts.push_back(nlohmann::json::parse(line));
  }
  return dicts;
}

// The flags of the quick-start LoRA configuration (examples/quickstart.json,
// lora, rank 8, scale 20 = PEFT alpha 160 over r 8, all seven linears of
// every block, batch 8, the fortunes data) in the script's Hugging Face names.
inline std::vector<std::string> hf_quickstart_args(const std::filesystem::path& output_dir, int steps,
                                                   const std::string& learning_rate,
                                                   const std::filesystem::path& data = bundled_data("fortunes"),
                                                   int batch_size = 8) {
  return {"--model_name_or_path", bundled_model().string(), "--dataset_name", data.string(),
          "--output_dir", output_dir.string(), "--use_peft", "--lora_r", "8", "--lora_alpha", "160",
          "--lora_dropout", "0", "--lora_target_modules", "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
          "up_proj", "down_proj", "--learning_rate", learning_rate, "--lr_scheduler_type", "constant",
          "--warmup_steps", "0", "--weight_decay", "0", "--max_grad_norm", "0",
          "--per_device_train_batch_size", std::to_string(batch_size), "--gradient_accumulation_steps", "1",
          "--max_steps", std::to_string(steps), "--max_seq_length", "256", "--seed", "42"};
}

// The same configuration for the engine.
inline std::vector<std::string> engine_quickstart_args(const std::filesystem::path& adapter, int steps,
                                                       const std::string& learning_rate,
                                                       const std::filesystem::path& data = bundled_data("fortunes"),
                                                       int batch_size = 8) {
  return {"train", "--model", bundled_model().string(), "--data", data.string(),
          "--fine-tune-type", "lora", "--rank", "8", "--scale", "20", "--dropout", "0", "--num-layers", "-1",
          "--learning-rate", learning_rate, "--iters", std::to_string(steps),
          "--batch-size", std::to_string(batch_size), "--max-seq-length", "256", "--seed", "42", "--save-every", "0",
          "--threads", "1", "--adapter-path", adapter.string(), "--json"};
}

}  // namespace lorafarm::testing
