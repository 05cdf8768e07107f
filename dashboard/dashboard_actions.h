// The dashboard's write actions: start a sweep as a child `lorafarm sweep`,
// and try a trial's adapter with a child `lorafarm generate`. Every path the
// server passes on is confined to a root folder (canonicalized, prefix-checked).
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "process/child.h"

namespace lorafarm::dashboard {

// `candidate` (relative ones resolve against `root`) as a canonical path that
// exists and lies inside `root`. Throws ApiError: 403 outside, 404 missing.
std::filesystem::path confined_path(const std::filesystem::path& root, const std::filesystem::path& candidate);

struct ActionPaths {
  std::filesystem::path db;         // the store the sweeps write
  std::filesystem::path artifacts;  // root of trial folders, written specs and logs
  std::filesystem::path examples;   // specs and data sets a request may choose by name
  std::filesystem::path binary;     // the lorafarm executable (/proc/self/exe)
};

inline constexpr std::size_t kMaxPromptBytes = 4096;
inline constexpr int kMaxGenerateTokens = 512;

class DashboardActions {
 public:
  explicit DashboardActions(ActionPaths paths);
  ~DashboardActions();  // stops sweeps it started that still run (SIGTERM, then SIGKILL)
  DashboardActions(const DashboardActions&) = delete;
  DashboardActions& operator=(const DashboardActions&) = delete;

  const ActionPaths& paths() const { return paths_; }

  // POST /api/sweeps: {"example": "file.json"} or {"spec": {...} | "text"},
  // optional "data" (a folder name under examples/data), "name", "workers".
  // Returns {"experiment", "pid", "spec", "log"}. Throws ApiError.
  nlohmann::json start_sweep(const nlohmann::json& request);
  // Sweeps started by this server: pid, experiment, running or exit code.
  nlohmann::json sweeps();
  // The example specs and data sets a request may name.
  nlohmann::json examples() const;
  // POST /api/generate: {"experiment", "trial", "prompt", "max_tokens"}; the
  // adapter is the trial's artifact folder, the model the spec's. Throws ApiError.
  nlohmann::json generate(const nlohmann::json& request, double timeout_seconds = 60.0);

 private:
  struct Child {
    process::Child process;  // a sweep outlives a crash of the server (no PR_SET_PDEATHSIG)
    std::string experiment;
    std::string log;
    std::optional<int> exit_code;  // the exit code, or -signal
  };
  void reap();
  static process::Child spawn_logged(std::vector<std::string> argv, const std::filesystem::path& log_path);

  ActionPaths paths_;
  std::mutex mutex_;
  std::vector<Child> children_;
};

}  // namespace lorafarm::dashboard
