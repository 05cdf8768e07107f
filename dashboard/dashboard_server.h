// `lorafarm serve`: the live dashboard. An HTTP server (cpp-httplib) on a
// background thread that serves one embedded page and a JSON API under /api/
// (docs/dashboard.md). Reads open the store read-only per request; write
// actions (start a sweep, generate) need the token printed at start.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>

namespace lorafarm::dashboard {

struct DashboardOptions {
  std::filesystem::path db = "lorafarm.db";
  std::filesystem::path artifacts;  // default: schema::default_artifact_dir(db), "DB-artifacts" beside it
  std::filesystem::path examples;   // specs and data sets a sweep request may choose
  std::filesystem::path binary;     // lorafarm for child processes; default /proc/self/exe
  std::string bind = "127.0.0.1";
  int port = 8080;  // 0: any free port (see port())
  bool read_only = false;
  std::string token;  // empty: a random one
  std::size_t max_body_bytes = 1 << 20;
  double generate_timeout_seconds = 120.0;
};

class DashboardServer {
 public:
  explicit DashboardServer(DashboardOptions options);
  ~DashboardServer();
  DashboardServer(const DashboardServer&) = delete;
  DashboardServer& operator=(const DashboardServer&) = delete;

  // Binds (throws std::runtime_error naming the address when it cannot) and
  // serves on a background thread until stop() or destruction.
  void start();
  void stop();
  // Blocks until the server stops (stop() from a signal watcher, or an error).
  void wait();

  int port() const;
  const std::string& token() const;
  bool read_only() const;
  // http://bind:port/ ; with the token in the fragment (never sent to the
  // server by browsers) when write actions are enabled.
  std::string url(bool with_token = false) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The embedded page (dashboard/page/, compiled in by dashboard/dashboard_page.cpp).
std::string_view dashboard_page();

}  // namespace lorafarm::dashboard
