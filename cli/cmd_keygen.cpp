// `lorafarm keygen`: make a CURVE key pair for a coordinator or a worker
// (docs/security.md). The `.key` file stays on its machine; the `.pub` file is
// what the other side is given.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "schema/curve_keys.h"

namespace lorafarm::cli {
namespace {

struct KeygenOptions {
  std::string stem = "lorafarm";
  bool force = false;
  bool json = false;
};

int run_keygen(const KeygenOptions& options) {
  const auto keys = schema::generate_curve_key_pair();
  schema::write_curve_key_pair(options.stem, keys, options.force);
  const std::string secret_file = options.stem + ".key";
  const std::string public_file = options.stem + ".pub";
  if (options.json) {
    std::cout << nlohmann::json{{"public_key", keys.public_key}, {"key_file", secret_file}, {"public_file", public_file}}.dump(2) << "\n";
  } else {
    std::cout << "wrote " << secret_file << " (key pair, mode 0600: keep it on this machine)\n"
              << "wrote " << public_file << " (public key: give it to the other side)\n"
              << "public key " << keys.public_key << "\n";
  }
  return kExitOk;
}

}  // namespace

Command add_keygen_command(CLI::App& root) {
  auto options = std::make_shared<KeygenOptions>();
  CLI::App* app = root.add_subcommand("keygen", "Make a CURVE key pair for a coordinator or a worker");
  app->add_option("stem", options->stem, "Path without extension: writes STEM.key and STEM.pub (default: lorafarm)");
  app->add_flag("--force", options->force, "Replace existing key files");
  app->add_flag("--json", options->json, "Print the public key and file names as JSON");
  app->footer(
      "Examples:\n"
      "  lorafarm keygen keys/coordinator                # on the coordinator's machine\n"
      "  lorafarm keygen keys/workers/node1              # on each worker; copy node1.pub to the coordinator\n"
      "  lorafarm sweep spec.json --bind tcp://0.0.0.0:5555 --curve-key keys/coordinator.key --allow keys/workers\n"
      "  lorafarm worker --connect tcp://HOST:5555 --curve-key keys/workers/node1.key --server-key keys/coordinator.pub");
  return {app, [options] { return run_keygen(*options); }};
}

}  // namespace lorafarm::cli
