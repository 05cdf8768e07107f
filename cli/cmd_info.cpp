// `lorafarm info MODEL`: architecture, parameters, bytes by dtype, memory estimate.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/input_paths.h"
#include "engine/architecture_summary.h"
#include "engine/batch_sizing.h"
#include "engine/model.h"
#include "engine/error.h"
#include "engine/memory.h"
#include "engine/model_config.h"
#include "engine/trainable_model.h"

namespace lorafarm::cli {
namespace {

struct InfoOptions {
  std::string model;
  bool json = false;
  // --estimate METHOD and the training shape it is predicted for.
  std::string estimate;
  int rank = 8;
  int num_layers = -1;
  std::vector<std::string> keys;
  float dropout = 0.0f;
  int bits = 4;
  int group_size = 64;
  std::string quant_mode = "affine";
  int batch_size = 4;
  int max_seq_length = 2048;
  bool grad_checkpoint = false;
  std::string precision = "fp32";
};

// The adapter a `lorafarm train --fine-tune-type METHOD` run with these
// options would build (qlora = LoRA on a quantized base).
engine::AdapterConfig adapter_for(const InfoOptions& o) {
  engine::AdapterConfig a;
  const bool qlora = o.estimate == "qlora";
  a.type = engine::parse_fine_tune_type(qlora ? "lora" : o.estimate);
  a.rank = o.rank;
  a.num_layers = o.num_layers;
  a.keys = o.keys;
  a.dropout = o.dropout;
  if (qlora) {
    engine::QuantizationConfig q;
    q.bits = o.bits;
    q.group_size = o.group_size;
    if (o.quant_mode != "affine" && o.quant_mode != "nf4")
      throw engine::InvalidInput("--quant-mode: '" + o.quant_mode + "' is not allowed; allowed: affine, nf4");
    q.mode = o.quant_mode == "nf4" ? engine::QuantizationConfig::Mode::kNf4 : engine::QuantizationConfig::Mode::kAffine;
    a.quantization = q;
  }
  return a;
}

nlohmann::json memory_estimate(const engine::ModelConfig& config, const InfoOptions& o) {
  const auto adapter = adapter_for(o);
  const int length = std::min(o.max_seq_length, config.max_position_embeddings);
  // A 16-bit checkpoint's frozen matrices stay 16-bit (engine/batch_sizing.h).
  const engine::TrainShape shape{o.batch_size, length, o.grad_checkpoint, engine::checkpoint_value_bytes(o.model),
                                 engine::parse_precision(o.precision)};
  const auto tally = engine::estimate_training_memory(config, adapter, shape);
  return {{"method", o.estimate},
          {"precision", o.precision},
          {"batch_size", o.batch_size},
          {"seq_length", length},
          {"grad_checkpoint", o.grad_checkpoint},
          {"trainable_params", engine::expected_trainable_params(config, adapter)},
          {"bytes", tally.to_json()},
          {"predicted_peak_rss_mb", engine::predicted_peak_rss_mb(tally)}};
}

int run_info(const InfoOptions& options) {
  require_folder("model", options.model);
  const engine::ModelConfig config = engine::ModelConfig::load(options.model);
  const int64_t params = config.parameter_count();
  const auto bytes = engine::checkpoint_bytes_by_dtype(options.model);
  // Inference holds float32 weights plus a KV cache for the whole context.
  const int64_t weight_bytes = params * 4;
  const int64_t kv_bytes = int64_t{2} * config.num_layers * config.max_position_embeddings * config.num_kv_heads *
                           config.head_dim * 4;
  const int64_t inference_bytes = weight_bytes + kv_bytes;

  nlohmann::json out = {{"model", options.model},
                        {"model_type", config.model_type},
                        {"hidden_size", config.hidden_size},
                        {"intermediate_size", config.intermediate_size},
                        {"num_layers", config.num_layers},
                        {"num_heads", config.num_heads},
                        {"num_kv_heads", config.num_kv_heads},
                        {"head_dim", config.head_dim},
                        {"vocab_size", config.vocab_size},
                        {"context", config.max_position_embeddings},
                        {"tie_word_embeddings", config.tie_word_embeddings},
                        {"parameters", params},
                        {"bytes_by_dtype", nlohmann::json::object()},
                        {"inference_memory_bytes", {{"weights_f32", weight_bytes},
                                                    {"kv_cache", kv_bytes},
                                                    {"total", inference_bytes}}}};
  for (const auto& [dtype, n] : bytes) out["bytes_by_dtype"][dtype] = n;
  const std::vector<std::string> features = engine::architecture_features(config);
  out["features"] = features;
  if (!options.estimate.empty()) out["training_estimate"] = memory_estimate(config, options);
  if (options.json) {
    std::cout << out.dump(2) << "\n";
    return kExitOk;
  }
  std::cout << "model          " << options.model << "\n"
            << "architecture   " << config.model_type << ": " << config.num_layers << " layers, hidden "
            << config.hidden_size << ", intermediate " << config.intermediate_size << ", heads " << config.num_heads
            << " (kv " << config.num_kv_heads << ", head_dim " << config.head_dim << "), vocab " << config.vocab_size
            << ", context " << config.max_position_embeddings << (config.tie_word_embeddings ? ", tied head" : "")
            << "\n";
  std::string joined;
  for (const std::string& f : features) joined += (joined.empty() ? "" : ", ") + f;
  std::cout << "features       " << joined << "\n"
            << "parameters     " << params << "\n";
  for (const auto& [dtype, n] : bytes) std::cout << "stored " << dtype << "     " << n << " bytes\n";
  std::cout << "inference      ~" << (inference_bytes + (1 << 20) - 1) / (1 << 20) << " MiB (f32 weights "
            << weight_bytes << " B + KV cache " << kv_bytes << " B at full context)\n";
  if (out.contains("training_estimate")) {
    const auto& e = out["training_estimate"];
    std::cout << "training       " << options.estimate << ", batch " << e["batch_size"] << " x " << e["seq_length"]
              << (options.grad_checkpoint ? ", gradient checkpointing" : "") << ": " << e["trainable_params"]
              << " trainable parameters, predicted peak RSS ~" << static_cast<int64_t>(e["predicted_peak_rss_mb"].get<double>() + 0.5)
              << " MiB\n";
    for (const auto& [category, n] : e["bytes"].items())
      std::cout << "  " << category << std::string(category.size() < 20 ? 20 - category.size() : 1, ' ') << n.get<int64_t>() / 1024
                << " KiB\n";
  }
  return kExitOk;
}

}  // namespace

Command add_info_command(CLI::App& root) {
  auto options = std::make_shared<InfoOptions>();
  CLI::App* app = root.add_subcommand("info", "Describe a model: architecture, parameters, memory");
  app->add_option("model", options->model, "Model folder (Hugging Face layout)")->required();
  app->add_flag("--json", options->json, "Print one JSON object (architecture, parameters, bytes_by_dtype, inference_memory_bytes, training_estimate)");
  app->add_option("--estimate", options->estimate, "Predict the peak memory of training with METHOD")
      ->check(CLI::IsMember({"lora", "dora", "qlora", "full"}));
  app->add_option("--rank", options->rank, "LoRA rank (with --estimate)")->capture_default_str();
  app->add_option("--num-layers", options->num_layers, "Adapted blocks, -1 = all")->capture_default_str();
  app->add_option("--keys", options->keys, "Adapted modules, e.g. q_proj,v_proj (default all)")->delimiter(',');
  app->add_option("--dropout", options->dropout, "LoRA dropout")->capture_default_str();
  app->add_option("--bits", options->bits, "QLoRA: bits of the quantized base")->capture_default_str();
  app->add_option("--group-size", options->group_size, "QLoRA: quantization group size")->capture_default_str();
  app->add_option("--quant-mode", options->quant_mode, "QLoRA: affine | nf4")->capture_default_str();
  app->add_option("--batch-size", options->batch_size, "Training batch size")->capture_default_str();
  app->add_option("--max-seq-length", options->max_seq_length, "Longest training sequence (capped at the context)")->capture_default_str();
  app->add_flag("--grad-checkpoint", options->grad_checkpoint, "Recompute each block in backward");
  app->add_option("--precision", options->precision, "Products: fp32 | bf16 (with --estimate)")->capture_default_str();
  app->footer(
      "Examples:\n  lorafarm info examples/models/stories260K\n"
      "  lorafarm info examples/models/TinyStories-656K --json\n"
      "  lorafarm info examples/models/stories260K --estimate qlora --rank 8 --batch-size 8 --max-seq-length 256");
  return {app, [options] { return run_info(*options); }};
}

}  // namespace lorafarm::cli
