// The dashboard's write actions: start a sweep as a child `lorafarm sweep`,
// and try a trial's adapter with a child `lorafarm generate`. Every path the
// server passes on is confined to a root folder (canonicalized, prefix-checked).
#pragma once

#include <sys/types.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace lorafarm::dashboard {

// `candidate` (relative ones resolve against `root`) as a canonical path that
// exists and lies inside `root`. Throws ApiError: 403 outside, 404 missing.
std::filesystem::path confined_path(const std::filesystem::path& root, const std::filesystem::path& candidate);

struct ChildOutput {
  int exit_code = -1;  // -signal when killed
  bool timed_out = false;
  std::string out;
  std::string err;
};
// Runs argv[0] (a path) with no stdin; kills it after `timeout_seconds`.
// Output beyond `max_output` bytes per stream is dropped.
ChildOutput run_child(const std::vector<std::string>& argv, double timeout_seconds, std::size_t max_output = 1 << 20);

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
    pid_t pid = -1;
    std::string experiment;
    std::string log;
    std::optional<int> exit_code;
  };
  void reap();
  static pid_t spawn_logged(std::vector<std::string>& argv, const std::filesystem::path& log_path);

  ActionPaths paths_;
  std::mutex mutex_;
  std::vector<Child> children_;
};

}  // namespace lorafarm::dashboard
