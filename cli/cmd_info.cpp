// `lorafarm info MODEL`: architecture, parameters, bytes by dtype, memory estimate.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "engine/model.h"
#include "engine/model_config.h"

namespace lorafarm::cli {
namespace {

struct InfoOptions {
  std::string model;
  bool json = false;
};

int run_info(const InfoOptions& options) {
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
  if (options.json) {
    std::cout << out.dump(2) << "\n";
    return kExitOk;
  }
  std::cout << "model          " << options.model << "\n"
            << "architecture   " << config.model_type << ": " << config.num_layers << " layers, hidden "
            << config.hidden_size << ", intermediate " << config.intermediate_size << ", heads " << config.num_heads
            << " (kv " << config.num_kv_heads << ", head_dim " << config.head_dim << "), vocab " << config.vocab_size
            << ", context " << config.max_position_embeddings << (config.tie_word_embeddings ? ", tied head" : "")
            << "\n"
            << "parameters     " << params << "\n";
  for (const auto& [dtype, n] : bytes) std::cout << "stored " << dtype << "     " << n << " bytes\n";
  std::cout << "inference      ~" << (inference_bytes + (1 << 20) - 1) / (1 << 20) << " MiB (f32 weights "
            << weight_bytes << " B + KV cache " << kv_bytes << " B at full context)\n";
  return kExitOk;
}

}  // namespace

Command add_info_command(CLI::App& root) {
  auto options = std::make_shared<InfoOptions>();
  CLI::App* app = root.add_subcommand("info", "Describe a model: architecture, parameters, memory");
  app->add_option("model", options->model, "Model folder (Hugging Face layout)")->required()->check(CLI::ExistingDirectory);
  app->add_flag("--json", options->json, "Print JSON");
  app->footer("Example:\n  lorafarm info examples/models/stories260K");
  return {app, [options] { return run_info(*options); }};
}

}  // namespace lorafarm::cli
