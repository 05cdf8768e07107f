// A command trial can optimise what the worker measures of it, the peak RSS
// (wait4) and the wall time, exactly as it optimises a number it prints.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "schema/store.h"
#include "test_support.h"

namespace lorafarm::testing {
namespace {

using nlohmann::json;

// One completed trial: its parameter and what was recorded for it.
struct Recorded {
  double objective = 0;
  double peak_rss_mb = 0;
  double wall_seconds = 0;
};

std::map<double, Recorded> sweep(const std::string& metric, const std::string& command, const json& values) {
  ScratchDir dir;
  write_file(dir / "spec.json", json{{"name", "measured"},
                                     {"seed", 1},
                                     {"objective", {{"metric", metric}, {"direction", "minimize"}}},
                                     {"budget", {{"trials", values.size()}}},
                                     {"search", {{"algorithm", "grid"}, {"shuffle", false}}},
                                     {"search_space", {{"x", {{"type", "categorical"}, {"values", values}}}}},
                                     {"trial", {{"kind", "command"}, {"command", command}, {"timeout_seconds", 60}}}}
                                    .dump());
  const auto db = (dir / "m.db").string();
  const auto r = run_lorafarm({"sweep", (dir / "spec.json").string(), "--db", db, "--workers", "2"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto store = schema::Store::open_reader(db);
  const auto e = store.find_experiment("measured");
  std::map<double, Recorded> out;
  if (!e) return out;
  for (const auto& t : store.trials(e->id)) {
    EXPECT_EQ(t.status, schema::TrialStatus::Completed) << "trial " << t.number << ": " << t.error;
    const auto result = store.result(t.id);
    if (!result || !t.objective) continue;
    out[t.params["x"].get<double>()] = {*t.objective, result->peak_rss_mb.value_or(-1), result->wall_seconds.value_or(-1)};
  }
  return out;
}

TEST(WorkerMeasuredObjective, PeakRssOfACommandTrialIsItsObjective) {
  // Each trial holds x MB of written bytes; it prints a loss but no memory figure.
  const auto trials = sweep("peak_rss_mb", "X={x} python3 -c \"import os; b = b'x' * int(float(os.environ['X']) * 1e6); print('{\\\"final\\\": true, \\\"val_loss\\\": 1}')\"",
                            json::array({8, 64, 160}));
  ASSERT_EQ(trials.size(), 3u);
  for (const auto& [x, r] : trials) {
    EXPECT_EQ(r.objective, r.peak_rss_mb) << x;
    EXPECT_GE(r.peak_rss_mb, x * 1e6 / (1 << 20)) << "x = " << x << " MB written, peak " << r.peak_rss_mb << " MiB";
  }
  EXPECT_LT(trials.at(8).objective, trials.at(160).objective);
}

TEST(WorkerMeasuredObjective, WallSecondsOfASilentCommandTrialIsItsObjective) {
  // The trial prints nothing at all: the worker's clock is the whole result.
  const auto trials = sweep("wall_seconds", "sleep {x}", json::array({0.1, 0.6}));
  ASSERT_EQ(trials.size(), 2u);
  for (const auto& [x, r] : trials) {
    EXPECT_EQ(r.objective, r.wall_seconds) << x;
    EXPECT_GE(r.wall_seconds, x) << x;
    EXPECT_LT(r.wall_seconds, x + 10) << x;
  }
}

TEST(WorkerMeasuredObjective, ATrialsOwnPeakFigureDoesNotReplaceTheWorkersMeasurement) {
  // The trial claims 1 MB; the worker's wait4 figure (a python process, > 5 MiB) decides.
  const auto trials = sweep("peak_rss_mb", "python3 -c \"print('{\\\"final\\\": true, \\\"val_loss\\\": 1, \\\"peak_rss_mb\\\": 1}')\" # {x}",
                            json::array({1}));
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_GT(trials.begin()->second.objective, 5);
}


TEST(WorkerMeasuredObjective, AnEngineTrialsOwnPeakIsKeptApartAndEachColumnNamesItsSource) {
  ScratchDir dir;
  write_file(dir / "spec.json",
             json{{"name", "peaks"},
                  {"seed", 2},
                  {"model", bundled_model().string()},
                  {"data", bundled_data("fortunes").string()},
                  {"budget", {{"trials", 1}}},
                  {"search", {{"algorithm", "grid"}}},
                  {"search_space", {{"learning_rate", {{"type", "categorical"}, {"values", {0.001}}}}}},
                  {"fixed", {{"method", "lora"}, {"rank", 2}, {"iters", 4}, {"batch_size", 2}, {"max_seq_length", 64}, {"threads", 1}}},
                  {"trial", {{"kind", "engine"}, {"timeout_seconds", 300}}}}
                 .dump());
  const auto db = (dir / "p.db").string();
  const auto run = run_lorafarm({"sweep", (dir / "spec.json").string(), "--db", db, "--workers", "1"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find("wait4 MB"), std::string::npos) << run.out;

  auto store = schema::Store::open_reader(db);
  const auto trials = store.trials(store.find_experiment("peaks")->id);
  ASSERT_EQ(trials.size(), 1u);
  const auto result = store.result(trials[0].id);
  ASSERT_TRUE(result && result->peak_rss_mb);
  // The engine's getrusage figure is kept under its own name, never as peak_rss_mb.
  EXPECT_FALSE(result->metrics.contains("peak_rss_mb")) << result->metrics.dump();
  ASSERT_TRUE(result->metrics.contains("reported_peak_rss_mb")) << result->metrics.dump();
  EXPECT_EQ(*result->metric("peak_rss_mb"), *result->peak_rss_mb);
  // Both measure the same process: the worker's figure covers its whole life.
  // They read the kernel's RSS counter at different moments, and that counter
  // is summed lazily from per-CPU batches (tens of pages), so the engine's
  // VmHWM may lead by a fraction of a MB (measured: 0.09 MB).
  EXPECT_GE(*result->peak_rss_mb, result->metrics["reported_peak_rss_mb"].get<double>() - 1.0);

  const auto md = run_lorafarm({"report", "peaks", "--db", db, "--format", "md"});
  ASSERT_EQ(md.exit_code, 0) << md.err;
  EXPECT_NE(md.out.find("peak RSS, wait4 (MB)"), std::string::npos) << md.out;
}

}  // namespace
}  // namespace lorafarm::testing
