// How subcommands plug into the `lorafarm` binary: each cmd_*.cpp file defines
// one add_*_command() that declares its options on a CLI11 subcommand and
// returns the function that runs it. main.cpp lists them.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace lorafarm::cli {

// Documented exit codes (docs/cli.md).
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;       // invalid input, failed run
inline constexpr int kExitUsage = 2;       // bad command line
inline constexpr int kExitInterrupted = 130;

struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

Command add_info_command(CLI::App& root);
Command add_eval_command(CLI::App& root);
Command add_generate_command(CLI::App& root);
Command add_train_command(CLI::App& root);
Command add_fuse_command(CLI::App& root);
Command add_validate_command(CLI::App& root);
Command add_quantize_command(CLI::App& root);
Command add_sweep_command(CLI::App& root);
Command add_worker_command(CLI::App& root);
Command add_status_command(CLI::App& root);
Command add_trials_command(CLI::App& root);
Command add_rerun_command(CLI::App& root);
Command add_report_command(CLI::App& root);
Command add_serve_command(CLI::App& root);
Command add_keygen_command(CLI::App& root);
Command add_export_command(CLI::App& root);

}  // namespace lorafarm::cli
