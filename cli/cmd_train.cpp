// `lorafarm train`: fine-tune a model with LoRA, DoRA, QLoRA or in full, from
// flags and/or a JSON config with mlx-lm's option names. With --json, every
// report is one JSON line on stdout (the worker reads these).

#include <cmath>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/input_paths.h"
#include "cli/progress.h"
#include "engine/error.h"
#include "engine/memory.h"
#include "engine/trainer.h"
#include "schema/memory_metrics.h"
#include "schema/worker_resources.h"

namespace lorafarm::cli {
namespace {

struct TrainCommandOptions {
  std::string config_file;
  nlohmann::json flags = nlohmann::json::object();  // only the flags given, under their config names
  nlohmann::json lora = nlohmann::json::object();
  nlohmann::json quantization = nlohmann::json::object();
  bool json = false;
};

nlohmann::json read_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw engine::InvalidInput(path + ": cannot read the training config");
  try {
    return nlohmann::json::parse(in, nullptr, true, /*ignore_comments=*/true);
  } catch (const nlohmann::json::exception& e) {
    throw engine::InvalidInput(path + ": not valid JSON: " + e.what());
  }
}

bool conversion_fails(const nlohmann::json& config) {
  try {
    engine::TrainConfig::from_json(config);
  } catch (const nlohmann::json::exception&) {
    return true;
  } catch (const std::exception&) {
    // Another kind of mistake: not the one being looked for.
  }
  return false;
}

// nlohmann's type errors name no key. The culprit is the value whose removal
// makes the conversion succeed ("quantization.bits" for a nested one).
std::string wrong_typed_key(const nlohmann::json& config, const std::string& prefix,
                            const std::function<nlohmann::json(nlohmann::json)>& put_back) {
  for (const auto& [key, value] : config.items()) {
    nlohmann::json without = config;
    without.erase(key);
    if (conversion_fails(put_back(without))) continue;
    if (value.is_object()) {
      const auto nested = wrong_typed_key(value, prefix + key + ".", [&, key = key](nlohmann::json inner) {
        nlohmann::json outer = config;
        outer[key] = std::move(inner);
        return put_back(std::move(outer));
      });
      if (!nested.empty()) return nested;
    }
    return prefix + key + " has the wrong type: " + value.dump();
  }
  return "";
}

// TrainConfig::from_json, with its mistakes as one line naming the config
// file and, for a wrong-typed value, the key.
engine::TrainConfig config_from_json(const nlohmann::json& config, const std::string& file) {
  const std::string where = file.empty() ? "" : file + ": ";
  try {
    return engine::TrainConfig::from_json(config);
  } catch (const nlohmann::json::exception& e) {
    const std::string key = wrong_typed_key(config, "", [](nlohmann::json j) { return j; });
    throw engine::InvalidInput(where + (key.empty() ? std::string("an option has the wrong type (") + e.what() + ")" : key));
  } catch (const engine::InvalidInput& e) {
    if (file.empty()) throw;
    throw engine::InvalidInput(where + e.what());
  }
}

// Nested-rank scores as `<prefix>_loss@rB` / `<prefix>_ppl@rB` keys: the
// orchestrator stores every numeric key as a metric, so they form the rank curve.
void add_rank_keys(nlohmann::json& line, const std::string& prefix, const std::vector<engine::RankLoss>& ranks) {
  for (const engine::RankLoss& r : ranks) {
    line[prefix + "_loss@r" + std::to_string(r.rank)] = r.loss;
    line[prefix + "_ppl@r" + std::to_string(r.rank)] = r.ppl;
  }
}

// DPO's validation metrics as `<prefix>_<name>` keys (TRL's rewards/… and logps/…).
void add_preference_keys(nlohmann::json& line, const std::string& prefix, const std::optional<engine::DpoMetrics>& m) {
  if (!m) return;
  line[prefix + "_dpo_loss"] = m->loss;
  line[prefix + "_reward_accuracy"] = m->reward_accuracy;
  line[prefix + "_reward_margin"] = m->reward_margin;
  line[prefix + "_rewards_chosen"] = m->rewards_chosen;
  line[prefix + "_rewards_rejected"] = m->rewards_rejected;
  line[prefix + "_logps_chosen"] = m->logps_chosen;
  line[prefix + "_logps_rejected"] = m->logps_rejected;
}

void print_preference(const char* what, const std::optional<engine::DpoMetrics>& m) {
  if (!m) return;
  std::printf("  %s DPO: loss %.4f, reward accuracy %.3f, margin %.4f, logps chosen %.3f, rejected %.3f\n", what,
              m->loss, m->reward_accuracy, m->reward_margin, m->logps_chosen, m->logps_rejected);
}

void print_ranks(const char* what, const std::vector<engine::RankLoss>& ranks) {
  if (ranks.empty()) return;
  std::printf("  %s ppl by rank:", what);
  for (const engine::RankLoss& r : ranks) std::printf(" r%d %.2f", r.rank, r.ppl);
  std::printf("\n");
}

// The config file with the command line's flags on top.
nlohmann::json merged_config(const TrainCommandOptions& options) {
  nlohmann::json j = options.config_file.empty() ? nlohmann::json::object() : read_config(options.config_file);
  if (!j.is_object()) throw engine::InvalidInput(options.config_file + ": the training config must be a JSON object");
  for (const auto& [key, value] : options.flags.items()) j[key] = value;
  if (!options.lora.empty()) {
    if (!j.contains("lora_parameters")) j["lora_parameters"] = nlohmann::json::object();
    for (const auto& [key, value] : options.lora.items()) j["lora_parameters"][key] = value;
  }
  if (!options.quantization.empty()) {
    if (!j.contains("quantization") || j["quantization"].is_null()) j["quantization"] = nlohmann::json::object();
    for (const auto& [key, value] : options.quantization.items()) j["quantization"][key] = value;
  }
  return j;
}

// Step and evaluation reports as JSON lines or text; `latest` keeps the last
// report's loss and speed for the progress line.
engine::TrainCallbacks report_callbacks(const TrainCommandOptions& options, ProgressLine& progress, std::string& latest) {
  engine::TrainCallbacks callbacks;
  callbacks.on_message = [&progress](const std::string& m) {
    progress.clear();
    std::cerr << "lorafarm train: " << m << "\n";
  };
  if (progress.mode() != ProgressLine::Mode::kOff) {
    callbacks.on_step = [&progress, &latest](int64_t step, int64_t total) { progress.update(step, total, latest); };
  }
  callbacks.on_report = [&options, &progress, &latest](const engine::StepReport& r) {
    char detail[96];
    std::snprintf(detail, sizeof detail, "loss %.3f, %s tok/s", r.train_loss, with_thousands(r.tokens_per_second).c_str());
    latest = detail;
    if (options.json) {
      std::cout << nlohmann::json{{"step", r.step}, {"train_loss", r.train_loss}, {"learning_rate", r.learning_rate},
                                  {"tokens_per_second", r.tokens_per_second}, {"trained_tokens", r.trained_tokens},
                                  {"peak_rss_mb", r.peak_rss_mb}}.dump()
                << std::endl;
      return;
    }
    progress.clear();
    std::printf("step %lld: train loss %.4f, lr %.3g, %.0f tokens/s, %lld tokens, peak %.1f MiB\n",
                static_cast<long long>(r.step), r.train_loss, r.learning_rate, r.tokens_per_second,
                static_cast<long long>(r.trained_tokens), r.peak_rss_mb);
    std::fflush(stdout);
  };
  callbacks.on_eval = [&options, &progress](const engine::EvalReport& r) {
    if (options.json) {
      nlohmann::json line{{"step", r.step}, {"val_loss", r.val_loss}};
      if (!r.preference) line["val_ppl"] = r.val_ppl;  // DPO's loss has no perplexity
      add_rank_keys(line, "val", r.ranks);
      add_preference_keys(line, "val", r.preference);
      std::cout << line.dump() << std::endl;
      return;
    }
    progress.clear();
    if (r.preference) {
      std::printf("step %lld:", static_cast<long long>(r.step));
      print_preference("val", r.preference);
    } else {
      std::printf("step %lld: val loss %.4f, val ppl %.2f\n", static_cast<long long>(r.step), r.val_loss, r.val_ppl);
    }
    print_ranks("val", r.ranks);
    std::fflush(stdout);
  };
  // The worker ships a checkpoint home when this line says it is complete (worker/checkpoint_snapshot.h).
  callbacks.on_checkpoint = [&options, &progress](int64_t step, const std::string& folder) {
    if (options.json) {
      std::cout << nlohmann::json{{"checkpoint_step", step}}.dump() << std::endl;
      return;
    }
    progress.clear();
    std::printf("step %lld: checkpoint in %s\n", static_cast<long long>(step), folder.c_str());
    std::fflush(stdout);
  };
  callbacks.on_resume = [&progress](int64_t step) {
    progress.clear();
    std::cerr << "lorafarm train: resumed after step " << step << " from the checkpoint\n";
  };
  return callbacks;
}

// The tally as "memory_<category>_mb" numbers, which a sweep stores with the
// trial's result and the report stacks (schema/memory_metrics.h).
void add_memory_metrics(nlohmann::json& line, const engine::MemoryTally& tally) {
  const auto mib = [](int64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); };
  const std::map<std::string_view, int64_t> bytes{{"base_weights", tally.base_weights},   {"quantized_weights", tally.quantized_weights},
                                                  {"adapter", tally.adapter_params},      {"gradients", tally.gradients},
                                                  {"optimizer_state", tally.optimizer_state}, {"activations", tally.activations},
                                                  {"reference_model", tally.reference_model}};
  for (const auto& category : schema::memory_categories()) line[schema::memory_metric_name(category.key)] = mib(bytes.at(category.key));
}

void print_final_json(const engine::TrainResult& result, const engine::TrainConfig& config) {
  auto optional_number = [](const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(); };
  nlohmann::json line{{"final", true},
                      {"val_loss", result.val_loss},
                      {"val_ppl", result.val_ppl},
                      {"test_loss", optional_number(result.test_loss)},
                      {"test_ppl", optional_number(result.test_ppl)},
                      {"peak_rss_mb", result.peak_rss_mb},
                      {"trainable_params", result.trainable_params},
                      {"tokens_per_second", result.tokens_per_second},
                      {"train_seconds", result.train_seconds},
                      {"trained_tokens", result.trained_tokens},
                      {"memory_bytes", result.memory.to_json()},
                      {"adapter_path", config.adapter_path},
                      {"unquantized_layers", result.unquantized_layers},
                      {"precision", engine::precision_name(result.precision)},
                      {"micro_batch_size", result.micro_batch_size},
                      {"grad_accumulation_steps", result.grad_accumulation_steps},
                      {"predicted_peak_rss_mb", result.predicted_peak_rss_mb}};
  add_memory_metrics(line, result.memory);
  if (result.val_preference) {  // DPO: no perplexities
    line.erase("val_ppl");
    line.erase("test_ppl");
  }
  add_preference_keys(line, "val", result.val_preference);
  add_preference_keys(line, "test", result.test_preference);
  add_rank_keys(line, "val", result.val_ranks);
  add_rank_keys(line, "test", result.test_ranks);
  std::cout << line.dump() << std::endl;
}

void print_final_text(const engine::TrainResult& result, const engine::TrainConfig& config) {
  const double predicted = engine::predicted_peak_rss_mb(result.memory);
  if (result.val_preference) {
    std::printf("final:\n");
    print_preference("val", result.val_preference);
    print_preference("test", result.test_preference);
  } else {
    std::printf("final: val loss %.4f (ppl %.2f)", result.val_loss, result.val_ppl);
    if (result.test_loss) std::printf(", test loss %.4f (ppl %.2f)", *result.test_loss, *result.test_ppl);
    std::printf("\n");
  }
  print_ranks("val", result.val_ranks);
  print_ranks("test", result.test_ranks);
  std::printf("%lld trainable parameters, %.0f tokens/s, %.1f s training, peak RSS %.1f MiB (predicted %.1f MiB, "
              "tally %.1f MiB)\n",
              static_cast<long long>(result.trainable_params), result.tokens_per_second, result.train_seconds,
              result.peak_rss_mb, result.predicted_peak_rss_mb, predicted);
  std::printf("adapter saved to %s\n", config.adapter_path.c_str());
}

int run_train(const TrainCommandOptions& options) {
  require_file("--config", options.config_file);
  const engine::TrainConfig config = config_from_json(merged_config(options), options.config_file);
  require_folder("--model", config.model);
  require_folder("--data", config.data);
  // On a terminal, one progress line with the latest report's loss and
  // speed; elsewhere the step reports are the plain progress lines.
  ProgressLine progress(ProgressLine::mode_for(options.json, ProgressLine::Mode::kOff), "train", "iters");
  std::string latest;  // "loss 2.31, 1,050 tok/s"
  const engine::TrainResult result = engine::train(config, report_callbacks(options, progress, latest));
  progress.clear();
  if (options.json) {
    print_final_json(result, config);
  } else {
    print_final_text(result, config);
  }
  return kExitOk;
}

// A flag that, when given, sets `key` in `target` (a JSON object of config names).
template <class T>
void json_option(CLI::App* app, const std::string& flag, nlohmann::json& target, const std::string& key,
                 const std::string& help) {
  app->add_option_function<T>(flag, [&target, key](const T& v) { target[key] = v; }, help);
}

// --batch-size N|auto, --effective-batch-size and --memory-limit (engine/batch_sizing.h).
void add_batch_size_options(CLI::App* app, nlohmann::json& flags) {
  app->add_option_function<std::string>(
      "--batch-size",
      [&flags](const std::string& v) {
        if (v == "auto") {
          flags["batch_size"] = "auto";
          return;
        }
        try {
          std::size_t used = 0;
          const int n = std::stoi(v, &used);
          if (used != v.size()) throw std::invalid_argument(v);
          flags["batch_size"] = n;
        } catch (const std::exception&) {
          throw CLI::ValidationError("--batch-size", "'" + v + "' is not a number or auto");
        }
      },
      "Samples per (micro-)batch, or auto: the largest whose predicted peak fits --memory-limit");
  json_option<int>(app, "--effective-batch-size", flags, "effective_batch_size",
                   "Samples per optimizer step, through gradient accumulation (batch-size auto: default 4)");
  app->add_option_function<std::string>(
      "--memory-limit",
      [&flags](const std::string& v) {
        try {
          flags["memory_limit_mb"] = static_cast<double>(schema::parse_memory_size(v));
        } catch (const std::invalid_argument& e) {
          throw CLI::ValidationError("--memory-limit", e.what());
        }
      },
      "batch-size auto: the memory the run may use (2G, 1500M; default: the worker's offer, else available memory)");
}

}  // namespace

Command add_train_command(CLI::App& root) {
  auto o = std::make_shared<TrainCommandOptions>();
  CLI::App* app = root.add_subcommand("train", "Fine-tune a model (LoRA, DoRA, QLoRA or full)");
  app->add_option("-c,--config", o->config_file, "JSON config with mlx-lm option names (flags override it)");
  json_option<std::string>(app, "--model", o->flags, "model", "Model folder (Hugging Face layout)");
  json_option<std::string>(app, "--data", o->flags, "data", "Folder with train/valid/test.jsonl");
  json_option<std::string>(app, "--fine-tune-type", o->flags, "fine_tune_type", "lora | dora | qlora | full");
  json_option<int>(app, "--num-layers", o->flags, "num_layers", "Adapt the last N blocks (-1 = all)");
  json_option<int>(app, "--rank", o->lora, "rank", "LoRA rank");
  json_option<float>(app, "--scale", o->lora, "scale", "LoRA scale (mlx-lm multiplier, default 20)");
  json_option<float>(app, "--alpha", o->lora, "alpha", "LoRA alpha: scale = alpha/rank (PEFT)");
  app->add_flag_callback("--rslora", [o] { o->lora["rslora"] = true; }, "Scale = alpha/sqrt(rank)");
  json_option<float>(app, "--dropout", o->lora, "dropout", "LoRA dropout");
  app->add_flag_callback("--dynamic-rank", [o] { o->lora["dynamic_rank"] = true; },
                         "Nested ranks (DyLoRA): train rank prefixes, validate every rank of the ladder");
  json_option<std::vector<int>>(app, "--rank-ladder", o->lora, "rank_ladder",
                                "Ranks validated with --dynamic-rank (default 1 2 4 ... rank)");
  json_option<std::string>(app, "--rank-sampling", o->lora, "rank_sampling",
                           "Prefix drawn per step: ladder (default) | uniform (1..rank) | harmonic | harmonic_sqrt");
  json_option<std::string>(app, "--rank-scale", o->lora, "rank_scale",
                           "Scale of rank prefix b: dylora (default: alpha/b, alpha = scale) | fixed_rank");
  json_option<float>(app, "--rank-scale-exponent", o->lora, "rank_scale_exponent",
                     "Scale of rank prefix b = alpha/b^P (alpha = scale without --alpha); overrides --rank-scale");
  json_option<std::vector<std::string>>(app, "--keys", o->lora, "keys", "Modules to adapt (e.g. self_attn.q_proj)");
  json_option<int>(app, "--bits", o->quantization, "bits", "QLoRA: bits of the quantized base (4 or 8)");
  json_option<int>(app, "--group-size", o->quantization, "group_size", "QLoRA: quantization group size");
  json_option<std::string>(app, "--quant-mode", o->quantization, "mode", "QLoRA: affine | nf4");
  add_batch_size_options(app, o->flags);
  json_option<int>(app, "--iters", o->flags, "iters", "Optimizer steps");
  json_option<double>(app, "--learning-rate", o->flags, "learning_rate", "Peak learning rate");
  json_option<std::string>(app, "--lr-schedule", o->flags, "lr_schedule", "constant | cosine | linear");
  json_option<double>(app, "--weight-decay", o->flags, "weight_decay", "AdamW weight decay");
  json_option<double>(app, "--max-grad-norm", o->flags, "max_grad_norm", "Clip gradients to this global norm");
  json_option<std::string>(app, "--precision", o->flags, "precision",
                           "Products: fp32 (default) | bf16 (bf16 products, fp32 sums; AVX-512 BF16)");
  app->add_flag_callback("--grad-checkpoint", [o] { o->flags["grad_checkpoint"] = true; }, "Recompute activations per block");
  json_option<int>(app, "--grad-accumulation-steps", o->flags, "grad_accumulation_steps", "Micro-batches per step");
  app->add_flag_callback("--mask-prompt", [o] { o->flags["mask_prompt"] = true; }, "Loss on completions only");
  json_option<int>(app, "--steps-per-report", o->flags, "steps_per_report", "Report every N steps");
  json_option<int>(app, "--steps-per-eval", o->flags, "steps_per_eval", "Validate every N steps");
  json_option<int>(app, "--val-batches", o->flags, "val_batches", "Validation batches (-1 = all)");
  json_option<int>(app, "--save-every", o->flags, "save_every", "Save the adapter every N steps");
  json_option<uint64_t>(app, "--seed", o->flags, "seed", "Random seed");
  json_option<int>(app, "--max-seq-length", o->flags, "max_seq_length", "Cut samples at this many tokens");
  json_option<std::string>(app, "--batch-order", o->flags, "batch_order", "sorted (mlx-lm) | shuffle");
  json_option<std::string>(app, "--adapter-path", o->flags, "adapter_path", "Folder to save the adapter in");
  json_option<std::string>(app, "--format", o->flags, "adapter_format", "Adapter layout: mlx | peft");
  json_option<std::string>(app, "--resume-adapter-file", o->flags, "resume_adapter_file", "Start from this adapter");
  json_option<int>(app, "--threads", o->flags, "threads", "Threads (0 = all cores)");
  json_option<std::string>(app, "--train-mode", o->flags, "train_mode",
                           "sft (next-token loss, default) | dpo (preference pairs: prompt, chosen, rejected)");
  json_option<double>(app, "--beta", o->flags, "beta", "DPO: beta, the strength of the pull to the reference (0.1)");
  json_option<std::string>(app, "--loss-type", o->flags, "loss_type", "DPO: sigmoid (default) | robust | ipo");
  json_option<double>(app, "--label-smoothing", o->flags, "label_smoothing",
                      "DPO: probability a preference label is flipped (sigmoid: cDPO, robust), in [0, 0.5)");
  app->add_flag("--json", o->json, "JSON lines on stdout: one per report and evaluation, then one with \"final\": true");
  app->footer(
      "A progress line on a terminal; step reports (--steps-per-report) are the plain progress on a pipe or file.\n"
      "Examples:\n"
      "  lorafarm train --model examples/models/stories260K --data examples/data/fortunes \\\n"
      "    --fine-tune-type lora --rank 8 --iters 300 --batch-size 8 --learning-rate 1e-3 --max-seq-length 256 \\\n"
      "    --adapter-path /tmp/lorafarm-adapter\n"
      "  lorafarm train --model examples/models/stories260K --data examples/data/fortunes --fine-tune-type qlora \\\n"
      "    --bits 4 --group-size 32 --iters 50 --max-seq-length 128 --adapter-path /tmp/lorafarm-qlora --json");
  return {app, [o] { return run_train(*o); }};
}

}  // namespace lorafarm::cli
