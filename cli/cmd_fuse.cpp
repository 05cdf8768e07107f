// `lorafarm fuse`: merge an adapter into its base model and write a plain HF folder.
#include <iostream>

#include "cli/command.h"
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
};

int run_fuse(const FuseOptions& options) {
  if (std::filesystem::exists(options.out) && !std::filesystem::is_empty(options.out)) {
    throw engine::InvalidInput(options.out + ": output folder exists and is not empty");
  }
  const engine::TrainableModel adapted = engine::load_adapted_model(engine::Model::load(options.model), options.adapter);
  engine::save_model_folder(adapted.merged_model(), options.model, options.out);
  std::cout << "fused " << options.adapter << " into " << options.model << " -> " << options.out << "\n";
  return kExitOk;
}

}  // namespace

Command add_fuse_command(CLI::App& root) {
  auto options = std::make_shared<FuseOptions>();
  CLI::App* app = root.add_subcommand("fuse", "Merge an adapter into its base model (plain HF folder)");
  app->add_option("--model", options->model, "Base model folder")->required()->check(CLI::ExistingDirectory);
  app->add_option("--adapter", options->adapter, "Adapter folder (mlx-lm or PEFT layout)")->required()->check(CLI::ExistingDirectory);
  app->add_option("-o,--out", options->out, "Output model folder")->required();
  app->footer("Example:\n  lorafarm fuse --model examples/models/stories260K --adapter adapters -o fused");
  return {app, [options] { return run_fuse(*options); }};
}

}  // namespace lorafarm::cli
