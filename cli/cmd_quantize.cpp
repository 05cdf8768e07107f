// `lorafarm quantize`: writes a quantized copy of a model folder (affine as
// mlx-lm, or nf4 as bitsandbytes) that `train` loads directly for QLoRA.
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/input_paths.h"
#include "engine/error.h"
#include "engine/model.h"
#include "engine/quantized_model_io.h"
#include "engine/tensor.h"

namespace lorafarm::cli {
namespace {

struct QuantizeCommandOptions {
  std::string model;
  std::string output;
  int bits = 4;
  int group_size = 64;
  std::string mode = "affine";
  int threads = 0;
  bool json = false;
};

std::string megabytes(int64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f MB", static_cast<double>(bytes) / 1e6);
  return text;
}

int run_quantize(const QuantizeCommandOptions& options) {
  require_folder("--model", options.model);
  engine::set_num_threads(options.threads);
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(options.output) && fs::equivalent(options.model, options.output, ec)) {
    throw engine::InvalidInput("--output " + options.output + " is the input model folder; choose another folder");
  }
  engine::QuantizationConfig config;
  config.bits = options.bits;
  config.group_size = options.group_size;
  config.mode = options.mode == "nf4" ? engine::QuantizationConfig::Mode::kNf4 : engine::QuantizationConfig::Mode::kAffine;
  engine::validate_quantization(config);

  if (engine::ModelConfig::load(options.model).quantization) {
    throw engine::InvalidInput(options.model + " is already quantized (its config.json has a 'quantization' block)");
  }
  engine::Model model = engine::Model::load(options.model);
  int64_t linear_bytes = 0;
  for (const auto& block : model.blocks) {
    for (const auto& key : engine::linear_keys()) linear_bytes += engine::block_linear(block, key).weight.size() * 4;
  }
  const engine::QuantizedModel quantized = engine::quantize_model(std::move(model), config);
  engine::save_quantized_model(quantized, options.output);
  engine::copy_tokenizer_files(options.model, options.output);

  int64_t kept_bytes = 0;
  for (const auto& block : quantized.model.blocks) {
    for (const auto& key : engine::linear_keys()) kept_bytes += engine::block_linear(block, key).weight.size() * 4;
  }
  const int64_t quantized_count = static_cast<int64_t>(quantized.model.blocks.size() * engine::linear_keys().size()) -
                                  static_cast<int64_t>(quantized.unquantized.size());
  const int64_t after = quantized.quantized_bytes() + kept_bytes;
  if (options.json) {
    std::cout << nlohmann::json{{"output", options.output},
                                {"mode", options.mode},
                                {"bits", options.bits},
                                {"group_size", options.group_size},
                                {"quantized_linears", quantized_count},
                                {"unquantized_linears", quantized.unquantized},
                                {"linear_bytes_float32", linear_bytes},
                                {"linear_bytes_quantized", after}}
                     .dump()
              << "\n";
    return kExitOk;
  }
  std::cout << "quantized " << quantized_count << " linear layers to " << options.bits << "-bit " << options.mode
            << " (group size " << options.group_size << ") -> " << options.output << "\n";
  std::cout << "linear weights: " << megabytes(linear_bytes) << " float32 -> " << megabytes(after) << "\n";
  if (!quantized.unquantized.empty()) {
    std::cout << "kept in float32 (input size not a multiple of " << options.group_size
              << "): " << quantized.unquantized.size() << " layers:";
    for (const auto& name : quantized.unquantized) std::cout << " " << name;
    std::cout << "\n";
  }
  std::cout << "embeddings, norms and the head stay float32\n";
  return kExitOk;
}

}  // namespace

Command add_quantize_command(CLI::App& root) {
  auto options = std::make_shared<QuantizeCommandOptions>();
  CLI::App* app = root.add_subcommand("quantize", "Write a quantized copy of a model (affine as mlx-lm, or nf4) for QLoRA");
  app->add_option("--model", options->model, "Model folder (float32/16 HF checkpoint)")->required();
  app->add_option("-o,--output", options->output, "Folder to write the quantized model to")->required();
  app->add_option("--bits", options->bits, "Bits per weight: 4 or 8 (nf4: 4)")->capture_default_str();
  app->add_option("--group-size", options->group_size, "Weights per scale: 32, 64 or 128 (nf4: absmax block)")->capture_default_str();
  app->add_option("--mode", options->mode, "affine (MLX) or nf4 (bitsandbytes, double-quantized)")
      ->check(CLI::IsMember({"affine", "nf4"}))
      ->capture_default_str();
  app->add_option("--threads", options->threads, "Threads (0 = all cores)")->capture_default_str();
  app->add_flag("--json", options->json,
                "Print one JSON object {output, mode, bits, group_size, quantized_linears, unquantized_linears, "
                "linear_bytes_float32, linear_bytes_quantized}");
  app->footer(
      "Examples:\n"
      "  lorafarm quantize --model examples/models/stories260K --bits 4 --group-size 32 -o /tmp/stories260K-4bit\n"
      "  lorafarm quantize --model examples/models/stories260K --mode nf4 --group-size 64 -o /tmp/stories260K-nf4 --json\n"
      "  lorafarm eval --model /tmp/stories260K-4bit --data examples/data/fortunes");
  return {app, [options] { return run_quantize(*options); }};
}

}  // namespace lorafarm::cli
