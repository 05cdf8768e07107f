// Report rendering at scale: a store of N trials (default 20,000) over four
// methods with results and learning curves, then the time to read it and
// render each format. Goal: HTML under 10 s for 20,000 trials. Prints JSON.
//
//   build/report_bench [--trials 20000] [--curve-points 10] [--db PATH]
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "report/report.h"
#include "schema/store.h"

namespace {

using nlohmann::json;
using namespace lorafarm;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Trials as a sweep leaves them: mostly completed, some failed/pruned, each
// completed one with a result and a learning curve; a tenth carry rank ladders.
void build_store(const std::filesystem::path& path, int trials, int curve_points) {
  auto store = schema::Store::open_writer(path);
  store.begin();
  schema::ExperimentRecord e;
  e.name = "bench";
  e.spec_json = R"({"name": "bench", "objective": {"metric": "val_loss"}, "budget": {"trials": 1},
    "search_space": {"method": {"type": "categorical", "values": ["lora", "qlora", "dora", "full"]},
                     "learning_rate": {"type": "float", "low": 1e-5, "high": 1e-2, "log": true},
                     "rank": {"type": "int", "low": 1, "high": 64, "condition": {"param": "method", "not_in": ["full"]}},
                     "dropout": {"type": "float", "low": 0, "high": 0.2}},
    "trial": {"kind": "command", "command": ["true"]}})";
  e.spec_hash = "bench";
  e.max_trials = trials;
  e.status = "FINISHED";
  e.id = store.insert_experiment(e);
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(0, 1);
  const char* methods[] = {"lora", "qlora", "dora", "full"};
  for (int i = 0; i < trials; ++i) {
    schema::TrialRecord t;
    t.experiment_id = e.id;
    t.number = i;
    const std::string method = methods[i % 4];
    const double lr = std::pow(10.0, -5 + 3 * u(rng));
    const int rank = 1 << static_cast<int>(u(rng) * 7);
    t.params = {{"method", method}, {"learning_rate", lr}, {"dropout", 0.2 * u(rng)}};
    if (method != "full") t.params["rank"] = rank;
    t.seed = i;
    t.created_at = 1000 + i;
    t.id = store.insert_trial(t);
    const double r = u(rng);
    t.status = r < 0.85 ? schema::TrialStatus::Completed : r < 0.93 ? schema::TrialStatus::Pruned : schema::TrialStatus::Failed;
    t.worker = "w" + std::to_string(i % 16);
    t.started_at = 1000 + i;
    t.finished_at = 1060 + i;
    const double val_loss = 2 + std::pow(std::log10(lr) + 3, 2) * 0.2 + (method == "qlora" ? 0.05 : 0) + 0.05 * u(rng);
    if (t.status == schema::TrialStatus::Failed) t.error = "exited with status 1";
    if (t.status == schema::TrialStatus::Completed) t.objective = val_loss;
    store.update_trial(t);
    for (int k = 1; k <= curve_points; ++k) {
      store.insert_metric(t.id, 1, k * 10, "train_loss", val_loss + 1.0 / k);
      if (k % 2 == 0) store.insert_metric(t.id, 1, k * 10, "val_loss", val_loss + 0.5 / k);
    }
    if (t.status != schema::TrialStatus::Completed) continue;
    json metrics = {{"val_loss", val_loss},
                    {"val_ppl", std::exp(val_loss)},
                    {"test_loss", val_loss + 0.02},
                    {"test_ppl", std::exp(val_loss + 0.02)},
                    {"trainable_params", method == "full" ? 260032.0 : 2890.0 * rank},
                    {"tokens_per_second", 3000 + 1000 * u(rng)},
                    {"train_seconds", 50 + 10 * u(rng)}};
    if (i % 10 == 0 && method != "full")
      for (int b = 1; b <= rank; b *= 2) metrics["val_loss@r" + std::to_string(b)] = val_loss + 0.1 / b;
    store.insert_result({t.id, 1, metrics, (method == "full" ? 120.0 : 40.0) + rank * 0.5 + 5 * u(rng), 60.0});
  }
  store.commit();
}

}  // namespace

int main(int argc, char** argv) {
  int trials = 20000, curve_points = 10;
  std::string db;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--trials") trials = std::atoi(argv[i + 1]);
    else if (flag == "--curve-points") curve_points = std::atoi(argv[i + 1]);
    else if (flag == "--db") db = argv[i + 1];
    else {
      std::cerr << "unknown flag " << flag << "\n";
      return 2;
    }
  }
  const bool temporary = db.empty();
  if (temporary) db = (std::filesystem::temp_directory_path() / ("lorafarm-report-bench-" + std::to_string(::getpid()) + ".db")).string();
  std::filesystem::remove(db);

  auto start = Clock::now();
  build_store(db, trials, curve_points);
  const double build_seconds = seconds_since(start);

  auto store = schema::Store::open_reader(db);
  const auto experiment = *store.find_experiment("bench");
  report::ReportContext context;
  context.model_parameters = 260032;
  context.base = schema::BaseScoresRecord{0, 4.4, std::exp(4.4), 4.45, std::exp(4.45), 260032, {}, 0};

  json out{{"bench", "report"}, {"trials", trials}, {"curve_points", curve_points}, {"build_store_seconds", build_seconds}};
  start = Clock::now();
  const auto data = report::collect_report(store, experiment);
  out["collect_seconds"] = seconds_since(start);
  for (const auto format : {report::ReportFormat::Html, report::ReportFormat::Markdown, report::ReportFormat::Csv,
                            report::ReportFormat::Json}) {
    // End to end as `lorafarm report` does it: read the store, then render.
    start = Clock::now();
    const std::string text = report::render_report(store, experiment, format, context);
    const double total = seconds_since(start);
    start = Clock::now();
    const std::string again = report::render_report(data, format, context);
    const double render = seconds_since(start);
    const std::string name(report::to_string(format));
    out[name] = {{"seconds", total}, {"render_only_seconds", render}, {"bytes", text.size()}, {"same_output", text == again}};
  }
  out["html_goal_seconds"] = 10;
  out["html_within_goal"] = out["html"]["seconds"].get<double>() < 10;
  std::cout << out.dump(2) << "\n";
  if (temporary) {
    std::filesystem::remove(db);
    std::filesystem::remove(db + "-wal");
    std::filesystem::remove(db + "-shm");
  }
  return 0;
}
