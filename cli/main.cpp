// The one `lorafarm` binary: parses the command line and runs a subcommand.
// User errors become one line on stderr and a non-zero exit code.
#include <spdlog/spdlog.h>

#include <exception>
#include <iostream>
#include <vector>

#include "cli/command.h"
#include "lorafarm/version.h"

int main(int argc, char** argv) {
  using namespace lorafarm::cli;
  CLI::App app{"lorafarm: find the best way to fine-tune a language model"};
  app.set_version_flag("--version", std::string(lorafarm::kVersion) +
                                        (*lorafarm::kGitCommit ? std::string(" (") + lorafarm::kGitCommit + ")" : ""));
  app.require_subcommand(1);
  app.footer("Exit codes: 0 success, 1 error (message on stderr), 2 bad command line.");

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
      add_report_command(app),
      add_serve_command(app),
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
