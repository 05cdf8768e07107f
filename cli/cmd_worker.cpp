// `lorafarm worker --connect ENDPOINT`: a worker agent that runs trials for a
// coordinator until it says the sweep is over.
#include <signal.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <iostream>

#include "cli/command.h"
#include "schema/curve_keys.h"
#include "schema/worker_resources.h"
#include "worker/agent.h"

namespace lorafarm::cli {
namespace {

std::atomic<int> g_interrupts{0};
extern "C" void on_worker_signal(int) { g_interrupts.fetch_add(1); }

struct WorkerCliOptions {
  worker::WorkerOptions agent;
  std::string log_level = "info";
  std::string curve_key;   // this worker's key pair (.key)
  std::string server_key;  // the coordinator's public key (.pub or the key itself)
  std::string gpus;        // --gpus 0,1,2,3
  std::string memory;      // --memory 16G
  bool slots_given = false;
  std::size_t upload_chunk_kb = 256;
};

// --gpus and --memory into the offer (--cpus goes there directly); one trial
// per device unless --slots says otherwise.
void apply_offer(WorkerCliOptions& options) {
  auto& offer = options.agent.offer;
  const auto named = [](const char* option, auto parse) {
    try {
      return parse();
    } catch (const std::invalid_argument& e) {
      throw std::runtime_error(std::string(option) + ": " + e.what());
    }
  };
  if (!options.gpus.empty()) offer.gpus = named("--gpus", [&] { return schema::parse_device_list(options.gpus); });
  if (!options.memory.empty()) offer.memory_mb = named("--memory", [&] { return schema::parse_memory_size(options.memory); });
  if (!offer.gpus.empty() && !options.slots_given) options.agent.slots = static_cast<int>(offer.gpus.size());
}

int run_worker(WorkerCliOptions& options) {
  spdlog::set_level(spdlog::level::from_str(options.log_level));
  struct sigaction action {};
  action.sa_handler = on_worker_signal;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  options.agent.interrupts = &g_interrupts;
  apply_offer(options);
  if (options.curve_key.empty() != options.server_key.empty())
    throw std::runtime_error("CURVE needs both --curve-key (this worker's .key) and --server-key (the coordinator's .pub)");
  if (!options.curve_key.empty()) {
    options.agent.curve = schema::load_curve_key_pair(options.curve_key);
    options.agent.server_public_key = schema::load_curve_public_key(options.server_key);
  }
  options.agent.upload_chunk_bytes = options.upload_chunk_kb * 1024;
  worker::WorkerAgent agent(options.agent);
  const auto summary = agent.run();
  spdlog::info("worker: {} trial(s) run, {} reconnect(s)", summary.trials_run, summary.reconnects);
  return g_interrupts.load() > 0 && !summary.shutdown_by_coordinator ? kExitInterrupted : kExitOk;
}

}  // namespace

Command add_worker_command(CLI::App& root) {
  auto options = std::make_shared<WorkerCliOptions>();
  CLI::App* app = root.add_subcommand("worker", "Run trials for a coordinator (lorafarm sweep --bind ...)");
  app->add_option("--connect", options->agent.endpoint, "Coordinator endpoint, e.g. tcp://host:5555")->required();
  app->add_option("--slots", options->agent.slots, "Trials run at once (default 1, or one per --gpus device)")->check(CLI::Range(1, 1024))
      ->each([options](const std::string&) { options->slots_given = true; });
  app->add_option("--gpus", options->gpus, "Devices this worker offers, e.g. 0,1,2,3: each trial's child sees only its own "
                                            "(CUDA_VISIBLE_DEVICES, HIP_VISIBLE_DEVICES)");
  app->add_option("--memory", options->memory, "Memory this worker offers to its trials together, e.g. 16G or 512M");
  app->add_option_function<int>("--cpus", [options](const int& n) { options->agent.offer.cpus = n; },
                                "Cores this worker offers to its trials together")
      ->check(CLI::Range(1, 1 << 20));
  app->add_option("--workdir", options->agent.workdir, "Folder for trial folders (default: a temp folder)");
  app->add_option("--id", options->agent.id, "Stable worker id (default: HOST-PID)");
  app->add_option("--heartbeat-ms", options->agent.heartbeat_ms, "Heartbeat interval before the coordinator sets it")->check(CLI::Range(10, 60000));
  app->add_option("--log-level", options->log_level, "trace, debug, info, warn, error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  app->add_option("--curve-key", options->curve_key, "This worker's CURVE key pair (.key of lorafarm keygen); needs --server-key")
      ->check(CLI::ExistingFile);
  app->add_option("--server-key", options->server_key, "The coordinator's public key: its .pub file or the 40-character key");
  app->add_option("--upload-chunk-kb", options->upload_chunk_kb, "Size of the chunks artifact files travel home in (KiB)")
      ->check(CLI::Range(1, 256));
  app->footer(
      "Examples:\n"
      "  lorafarm worker --connect tcp://10.0.0.5:5555 --curve-key keys/node1.key --server-key keys/coordinator.pub --slots 2\n"
      "  lorafarm worker --connect tcp://10.0.0.5:5555 --workdir /scratch/lorafarm   # coordinator started with --insecure\n"
      "  lorafarm worker --connect tcp://10.0.0.5:5555 --gpus 0,1,2,3 --memory 200G --cpus 32 ...   # one trial per GPU");
  return {app, [options] { return run_worker(*options); }};
}

}  // namespace lorafarm::cli
