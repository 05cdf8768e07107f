// The predicted peak of a training config and `batch_size: auto` (see the header).
#include "engine/batch_sizing.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "engine/error.h"
#include "engine/training_checkpoint.h"
#include "engine/model.h"

namespace lorafarm::engine {
namespace {

constexpr int kDefaultEffectiveBatch = 4;  // mlx-lm's batch size

std::string mb_text(double mb) {
  char text[32];
  std::snprintf(text, sizeof text, "%.0f MB", std::ceil(mb));
  return text;
}

// MemAvailable from /proc/meminfo, MiB; 0 when unreadable.
double available_memory_mb() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  double kb = 0;
  std::string unit;
  while (in >> key >> kb >> unit) {
    if (key == "MemAvailable:") return kb / 1024.0;
  }
  return 0;
}

double predicted_mb(const TrainConfig& config, const ModelConfig& model, int value_bytes, int seq_length, int micro) {
  return predicted_peak_rss_mb(predict_training_tally(config, model, value_bytes, seq_length, micro));
}

// The checkpoint's micro-batch when `config` resumes an auto run that fits
// `limit`; nullopt when there is no checkpoint or it trained another
// effective batch (loading it then names the difference).
std::optional<BatchChoice> resumed_micro_batch(const TrainConfig& config, const ModelConfig& model, int value_bytes,
                                               int seq_length, const MemoryLimit& limit) {
  if (config.resume_checkpoint.empty() || !has_training_checkpoint(config.resume_checkpoint)) return std::nullopt;
  const nlohmann::json run = training_checkpoint_run(config.resume_checkpoint);
  const int micro = run.value("batch_size", 0), steps = run.value("grad_accumulation_steps", 1);
  const int effective = config.effective_batch_size > 0 ? config.effective_batch_size : kDefaultEffectiveBatch;
  if (micro < 1 || steps < 1 || micro * steps != effective) return std::nullopt;
  const double predicted = predicted_mb(config, model, value_bytes, seq_length, micro);
  const std::string what = "micro-batch " + std::to_string(micro) + " x " + std::to_string(steps) +
                           " accumulation steps, as the checkpoint being resumed (" + config.resume_checkpoint + ") trained";
  if (predicted > limit.mb) {
    throw InvalidInput("batch_size auto: " + what + ", is predicted to peak at " + mb_text(predicted) +
                       ", above the memory limit of " + mb_text(limit.mb) + " (" + limit.source +
                       "); resume it where that fits");
  }
  return BatchChoice{micro, steps, predicted, limit,
                     "batch_size auto: " + what + ": predicted peak " + mb_text(predicted) + " within the limit of " +
                         mb_text(limit.mb) + " (" + limit.source + ")"};
}

}  // namespace

int checkpoint_value_bytes(const std::filesystem::path& folder) {
  if (ModelConfig::load(folder).quantization) return 4;
  int64_t half = 0, other = 0;
  for (const auto& [dtype, bytes] : checkpoint_bytes_by_dtype(folder)) {
    (dtype == "BF16" || dtype == "F16" ? half : other) += bytes;
  }
  return half > other ? 2 : 4;
}

MemoryTally predict_training_tally(const TrainConfig& config, const ModelConfig& model, int value_bytes,
                                   int seq_length, int micro_batch) {
  const bool dpo = config.train_mode == "dpo";
  TrainShape shape;
  shape.batch_size = micro_batch * (dpo ? 2 : 1);  // a pair is a chosen and a rejected row
  shape.seq_length = seq_length;
  shape.grad_checkpoint = config.grad_checkpoint;
  shape.weight_value_bytes = value_bytes;
  shape.precision = config.precision;
  MemoryTally tally = estimate_training_memory(model, config.adapter, shape);
  if (dpo && config.adapter.type == FineTuneType::kFull) tally.reference_model = tally.base_weights;
  return tally;
}

MemoryLimit memory_limit_for(const TrainConfig& config) {
  if (config.memory_limit_mb) return {*config.memory_limit_mb, "--memory-limit"};
  if (const char* offer = std::getenv("LORAFARM_WORKER_MEMORY_MB"); offer && *offer) {
    char* end = nullptr;
    const double mb = std::strtod(offer, &end);
    if (end != offer && mb > 0) return {mb, "the memory the worker offers"};
  }
  const double available = available_memory_mb();
  if (available <= 0) throw InvalidInput("batch_size auto: cannot read MemAvailable from /proc/meminfo; give --memory-limit");
  return {available, "this machine's available memory"};
}

BatchChoice choose_micro_batch(const TrainConfig& config, const ModelConfig& model, int value_bytes, int seq_length,
                               const MemoryLimit& limit) {
  const int effective = config.effective_batch_size > 0 ? config.effective_batch_size : kDefaultEffectiveBatch;
  std::optional<std::pair<int, double>> too_big;  // the next larger candidate, for the log line
  for (int micro = effective; micro >= 1; --micro) {
    if (effective % micro != 0) continue;
    const double predicted = predicted_mb(config, model, value_bytes, seq_length, micro);
    if (predicted > limit.mb) {
      too_big = {micro, predicted};
      continue;
    }
    BatchChoice choice{micro, effective / micro, predicted, limit, ""};
    choice.line = "batch_size auto: micro-batch " + std::to_string(micro) + " x " +
                  std::to_string(choice.accumulation_steps) + " accumulation steps (effective batch " +
                  std::to_string(effective) + ", " + std::to_string(seq_length) + " tokens a sequence): predicted peak " +
                  mb_text(predicted) + " within the limit of " + mb_text(limit.mb) + " (" + limit.source + ")";
    if (too_big) {
      choice.line += "; micro-batch " + std::to_string(too_big->first) + " would need " + mb_text(too_big->second);
    }
    return choice;
  }
  throw InvalidInput("batch_size auto: even a micro-batch of 1 sequence of " + std::to_string(seq_length) +
                     " tokens is predicted to peak at " + mb_text(too_big->second) + ", above the memory limit of " +
                     mb_text(limit.mb) + " (" + limit.source + ")");
}

TrainConfig resolve_batch_size(const TrainConfig& config, int seq_length, BatchChoice* choice) {
  TrainConfig out = config;
  // The limit only steers the choice: the run (and a checkpoint's identity)
  // is the micro-batch and accumulation chosen, whatever limit chose them.
  out.memory_limit_mb.reset();
  if (!config.auto_batch_size) {
    if (config.effective_batch_size > 0) out.grad_accumulation_steps = config.effective_batch_size / config.batch_size;
    out.effective_batch_size = 0;
    return out;
  }
  const ModelConfig model = ModelConfig::load(config.model);
  const int value_bytes = checkpoint_value_bytes(config.model);
  const MemoryLimit limit = memory_limit_for(config);
  const auto resumed = resumed_micro_batch(config, model, value_bytes, seq_length, limit);
  const BatchChoice picked = resumed ? *resumed : choose_micro_batch(config, model, value_bytes, seq_length, limit);
  out.auto_batch_size = false;
  out.effective_batch_size = 0;
  out.batch_size = picked.micro_batch;
  out.grad_accumulation_steps = picked.accumulation_steps;
  if (choice) *choice = picked;
  return out;
}

}  // namespace lorafarm::engine
