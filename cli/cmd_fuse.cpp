// `lorafarm fuse`: merge an adapter into its base model and write a plain HF folder.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/input_paths.h"
#include "engine/adapter_io.h"
#include "engine/error.h"
#include "engine/fuse.h"
#include "engine/model.h"

namespace lorafarm::cli {
namespace {

struct FuseOptions {
  std::string model;
  std::string adapter;
  std::string out;
  bool json = false;
};

int run_fuse(const FuseOptions& options) {
  require_folder("--model", options.model);
  require_folder("--adapter", options.adapter);
  if (std::filesystem::exists(options.out) && !std::filesystem::is_empty(options.out)) {
    throw engine::InvalidInput(options.out + ": output folder exists and is not empty");
  }
  const engine::TrainableModel adapted = engine::load_adapted_model(engine::Model::load(options.model), options.adapter);
  const engine::Model merged = adapted.merged_model();
  engine::save_model_folder(merged, options.model, options.out);
  if (options.json) {
    std::cout << nlohmann::json{{"model", options.model},
                                {"adapter", options.adapter},
                                {"output", options.out},
                                {"parameters", merged.config.parameter_count()}}
                     .dump()
              << "\n";
    return kExitOk;
  }
  std::cout << "fused " << options.adapter << " into " << options.model << " -> " << options.out << "\n";
  return kExitOk;
}

}  // namespace

Command add_fuse_command(CLI::App& root) {
  auto options = std::make_shared<FuseOptions>();
  CLI::App* app = root.add_subcommand("fuse", "Merge an adapter into its base model (plain HF folder)");
  app->add_option("--model", options->model, "Base model folder")->required();
  app->add_option("--adapter", options->adapter, "Adapter folder (mlx-lm or PEFT layout)")->required();
  app->add_option("-o,--out", options->out, "Output model folder (must not exist or be empty)")->required();
  app->add_flag("--json", options->json, "Print one JSON object {model, adapter, output, parameters}");
  app->footer(
      "Examples:\n"
      "  lorafarm train --model examples/models/stories260K --data examples/data/fortunes --iters 20 \\\n"
      "    --adapter-path /tmp/lorafarm-adapter\n"
      "  lorafarm fuse --model examples/models/stories260K --adapter /tmp/lorafarm-adapter -o /tmp/stories260K-fortunes\n"
      "  lorafarm generate --model /tmp/stories260K-fortunes --prompt \"You will\"");
  return {app, [options] { return run_fuse(*options); }};
}

}  // namespace lorafarm::cli
