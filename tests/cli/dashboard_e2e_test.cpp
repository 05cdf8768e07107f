// Must-show: the dashboard page, in headless Chromium driven over the DevTools
// protocol (tests/e2e/dashboard_e2e.py), follows a real sweep: a trial's row
// appears, shows RUNNING, its progress moves, it turns COMPLETED, all in one
// page load. The screenshot lands in the build directory.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "cli/background_process.h"
#include "test_support.h"

namespace lorafarm::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::optional<fs::path> find_chromium() {
  for (const char* candidate : {"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"})
    if (fs::exists(candidate)) return fs::path(candidate);
  return std::nullopt;
}

// The first line a background process wrote to `log`, waiting up to 10 s.
std::string first_line(const fs::path& log) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < until) {
    const auto text = read_file(log);
    if (const auto end = text.find('\n'); end != std::string::npos) return text.substr(0, end);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return {};
}

TEST(DashboardE2E, PageFollowsATrialFromRunningToCompletedWithoutReload) {
  const auto chromium = find_chromium();
  if (!chromium) GTEST_SKIP() << "chromium is not installed (apt-get install chromium); the dashboard's browser test needs it";
  ScratchDir dir;
  const auto db = dir / "e2e.db";
  // Two trials, one worker: trial 0 runs ~4 s and reports a step every 0.4 s.
  write_file(dir / "spec.json", json{{"name", "e2e"},
                                     {"seed", 5},
                                     {"budget", {{"trials", 2}}},
                                     {"search", {{"algorithm", "sobol"}}},
                                     {"search_space",
                                      {{"method", {{"type", "categorical"}, {"values", {"lora", "dora"}}}},
                                       {"learning_rate", {{"type", "float"}, {"low", 1e-4}, {"high", 1e-2}, {"log", true}}}}},
                                     {"fixed", {{"steps", 10}}},
                                     {"trial",
                                      {{"kind", "command"},
                                       {"command", {"python3", (source_dir() / "examples/tiny_trainer.py").string(), "--steps", "{steps}",
                                                    "--step-seconds", "0.4"}}}}}
                                    .dump());
  BackgroundProcess serve({lorafarm_binary().string(), "serve", "--db", db.string(), "--port", "0", "--json", "--read-only"}, dir / "serve.log");
  const auto line = first_line(dir / "serve.log");
  ASSERT_FALSE(line.empty()) << read_file(dir / "serve.log");
  const int port = json::parse(line)["port"].get<int>();

  const json sweep = {lorafarm_binary().string(), "sweep", (dir / "spec.json").string(), "--db", db.string(), "--workers", "1"};
  const auto screenshot = lorafarm_binary().parent_path() / "dashboard_e2e.png";
  fs::remove(screenshot);
  const auto r = run_process({"/usr/bin/python3", (source_dir() / "tests/e2e/dashboard_e2e.py").string(), "--url",
                              "http://127.0.0.1:" + std::to_string(port) + "/#exp=e2e", "--screenshot", screenshot.string(), "--sweep",
                              sweep.dump(), "--trial", "0", "--timeout", "40", "--chromium", chromium->string()});
  ASSERT_FALSE(r.out.empty()) << r.err;
  const json result = json::parse(r.out);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(result["ok"].get<bool>()) << result["problems"].dump();
  // What the page showed, in order, without a reload.
  EXPECT_THAT(result["statuses_seen"].get<std::vector<std::string>>(), ::testing::Contains("RUNNING"));
  EXPECT_EQ(result["statuses_seen"].back(), "COMPLETED");
  EXPECT_GE(result["steps_seen_while_running"].size(), 2u);
  EXPECT_EQ(result["load_ids"].size(), 1u);
  EXPECT_GE(result["curves_drawn"].get<int>(), 1);
  ASSERT_TRUE(fs::exists(screenshot));
  EXPECT_EQ(read_file(screenshot).substr(1, 3), "PNG");
  EXPECT_GT(fs::file_size(screenshot), 10000u);
  serve.signal(SIGTERM);
  EXPECT_EQ(serve.wait(10), 0);
}

}  // namespace
}  // namespace lorafarm::testing
