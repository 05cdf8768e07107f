// `lorafarm serve`: the live dashboard over a store (docs/dashboard.md).
#include <signal.h>

#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "cli/command.h"
#include "dashboard/dashboard_server.h"

namespace lorafarm::cli {
namespace {

struct ServeOptions {
  std::string db = "lorafarm.db";
  std::string bind = "127.0.0.1";
  int port = 8080;
  bool read_only = false;
  std::string artifacts;
  std::string examples;
  std::string log_level = "warn";
  bool json = false;
};

// The examples folder next to the source tree the binary was built from, or in
// the current folder.
std::filesystem::path default_examples() {
  const auto exe = std::filesystem::read_symlink("/proc/self/exe").parent_path();
  for (const auto& candidate : {std::filesystem::current_path() / "examples", exe / ".." / "examples", exe / ".." / ".." / "examples"}) {
    std::error_code ec;
    if (std::filesystem::is_directory(candidate, ec)) return std::filesystem::canonical(candidate);
  }
  return std::filesystem::current_path() / "examples";
}

int run_serve(const ServeOptions& options) {
  spdlog::set_level(spdlog::level::from_str(options.log_level));
  // Wait for Ctrl-C / SIGTERM on this thread; the server's threads never see them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  ::pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  dashboard::DashboardOptions o;
  o.db = options.db;
  o.bind = options.bind;
  o.port = options.port;
  o.read_only = options.read_only;
  o.artifacts = options.artifacts;
  o.examples = options.examples.empty() ? default_examples() : std::filesystem::path(options.examples);
  if (const char* token = std::getenv("LORAFARM_TOKEN")) o.token = token;
  dashboard::DashboardServer server(o);
  server.start();

  if (options.json) {
    nlohmann::json line{{"url", server.url()}, {"port", server.port()}, {"read_only", server.read_only()}};
    if (!server.read_only()) line["token"] = server.token();
    std::cout << line.dump() << std::endl;
  } else {
    std::cout << "lorafarm dashboard on " << server.url(true) << "\n";
    if (server.read_only()) std::cout << "read-only: starting sweeps and generation are disabled\n";
    else std::cout << "write token (Authorization: Bearer ...): " << server.token() << "\n";
    std::cout << "database " << options.db << "; Ctrl-C stops" << std::endl;
  }
  if (options.bind != "127.0.0.1" && options.bind != "localhost" && options.bind != "::1")
    std::cerr << "warning: listening on " << options.bind << ": anyone who can reach it can read the experiments\n";

  int received = 0;
  ::sigwait(&stop_signals, &received);
  server.stop();
  return kExitOk;
}

}  // namespace

Command add_serve_command(CLI::App& root) {
  auto options = std::make_shared<ServeOptions>();
  CLI::App* app = root.add_subcommand("serve", "Serve the live dashboard and its JSON API");
  app->add_option("--db", options->db, "Database file (it may not exist yet)")->capture_default_str();
  app->add_option("--port", options->port, "TCP port (0 = any free port)")->check(CLI::Range(0, 65535))->capture_default_str();
  app->add_option("--bind", options->bind, "Address to listen on")->capture_default_str();
  app->add_flag("--read-only", options->read_only, "Refuse write actions (starting sweeps, generation)");
  app->add_option("--artifacts", options->artifacts,
                  "Folder of trial artifacts, specs and logs; the only folder whose files are served (default: DB-artifacts next to --db, e.g. runs/quickstart-artifacts)");
  app->add_option("--examples", options->examples, "Folder of example specs and data sets the page offers (default: ./examples)");
  app->add_option("--log-level", options->log_level, "trace, debug, info, warn, error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  app->add_flag("--json", options->json, "Print one JSON line {url, port, token} at start");
  app->footer(
      "The write token is random per start (or $LORAFARM_TOKEN). Sweeps to try adapters from should use\n"
      "  --workdir <artifacts>/work so their adapters land inside the artifact folder.\n"
      "Stop it with Ctrl-C or SIGTERM (exit status 0).\n"
      "Examples:\n"
      "  lorafarm serve --db runs/quickstart.db\n"
      "  lorafarm serve --db /tmp/demo.db --port 0 --read-only --json");
  return {app, [options] { return run_serve(*options); }};
}

}  // namespace lorafarm::cli
