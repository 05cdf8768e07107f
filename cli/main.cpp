// The one `lorafarm` binary: parses the command line and runs a subcommand.
// User errors become one line on stderr and a non-zero exit code.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <exception>
#include <iostream>
#include <memory>
#include <vector>

#include "cli/command.h"
#include "lorafarm/version.h"

int main(int argc, char** argv) {
  using namespace lorafarm::cli;
  // Log lines go to stderr: stdout is for results (--json, tables) that scripts read.
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("", std::make_shared<spdlog::sinks::stderr_color_sink_mt>()));
  CLI::App app{"lorafarm: find the best way to fine-tune a language model"};
  app.set_version_flag("--version", std::string(lorafarm::kVersion) +
                                        (*lorafarm::kGitCommit ? std::string(" (") + lorafarm::kGitCommit + ")" : ""));
  app.require_subcommand(1);
  app.footer(
      "Exit codes:\n"
      "  0    success\n"
      "  1    error: one line on stderr (invalid input, a failed run, a missing file or folder)\n"
      "  2    bad command line (unknown option, missing argument)\n"
      "  130  interrupted (Ctrl-C or SIGTERM during sweep or worker)\n"
      "Examples (from a checkout):\n"
      "  lorafarm info examples/models/stories260K\n"
      "  lorafarm eval --model examples/models/stories260K --data examples/data/fortunes --split valid\n"
      "  lorafarm sweep examples/command_sweep.json --db /tmp/demo.db --workers 2\n"
      "  lorafarm status --db /tmp/demo.db\n"
      "Every subcommand has its own --help with examples; docs/cli.md describes them all.");

  std::vector<Command> commands = {
      add_info_command(app),
      add_eval_command(app),
      add_generate_command(app),
      add_train_command(app),
      add_fuse_command(app),
      add_validate_command(app),
      add_quantize_command(app),
      add_sweep_command(app),
      add_worker_command(app),
      add_status_command(app),
      add_trials_command(app),
      add_rerun_command(app),
      add_export_command(app),
      add_report_command(app),
      add_serve_command(app),
      add_keygen_command(app),
  };

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }

  for (const Command& command : commands) {
    if (!command.app->parsed()) continue;
    try {
      return command.run();
    } catch (const std::exception& e) {
      std::cerr << "lorafarm " << command.app->get_name() << ": error: " << e.what() << "\n";
      return kExitError;
    }
  }
  return kExitUsage;
}
