// Metric collectors on real log text in each tool's documented format (the
// fixtures; docs/sweep-spec.md cites the formats): mlx-lm's training and
// validation lines, the Hugging Face Trainer's log dicts and trainer_state.json.
#include "worker/metric_collection.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include "test_support.h"

namespace lorafarm::worker {
namespace {

using nlohmann::json;

std::filesystem::path fixture(const std::string& name) { return testing::source_dir() / "tests/worker/fixtures" / name; }

schema::MetricsSpec spec_of(const json& metrics) {
  return schema::parse_metrics_spec("test", metrics, "trial.metrics", [](const std::string& m) -> std::optional<bool> {
    if (m == "val_loss") return false;
    return std::nullopt;
  });
}

void feed(MetricCollection& c, const std::string& fixture_name, Stream stream = Stream::Stdout) {
  std::ifstream in(fixture(fixture_name));
  ASSERT_TRUE(in) << fixture_name;
  for (std::string line; std::getline(in, line);) c.line(stream, line);
}

// step -> value of `metric` over the reports.
std::map<std::int64_t, double> curve(const std::vector<StepReport>& reports, const std::string& metric) {
  std::map<std::int64_t, double> out;
  for (const auto& r : reports)
    if (r.metrics.contains(metric)) out[r.step] = r.metrics[metric].get<double>();
  return out;
}

// mlx_lm/tuner/trainer.py prints "Iter N: Val loss X, Val took Ys" and
// "Iter N: Train loss X, Learning Rate X, It/sec X, Tokens/sec X, Trained Tokens N, Peak mem X GB";
// lora.py ends with "Test loss X, Test ppl Y." (no iteration).
json mlx_lm_metrics(const std::string& val_rule) {
  return {{"collectors",
           {{{"source", "stdout"}, {"regex", R"(^Iter (?<step>\d+): Val loss (?<val_loss>[-+0-9.eE]+))"}},
            {{"source", "stdout"},
             {"regex", R"(^Iter (?<step>\d+): Train loss (?<train_loss>[-+0-9.eE]+), Learning Rate (?<learning_rate>[-+0-9.eE]+),.* Peak mem (?<peak_mem_gb>[0-9.]+) GB)"}},
            {{"source", "stdout"}, {"regex", R"(^Test loss (?<test_loss>[0-9.]+), Test ppl (?<test_ppl>\d+\.\d+))"}}}},
          {"final", {{"val_loss", val_rule}}}};
}

TEST(MetricCollection, MlxLmLogGivesCurvesAtTheirIterationsAndTheBestValidationLoss) {
  MetricCollection c(spec_of(mlx_lm_metrics("best")), {}, "val_loss");
  feed(c, "mlx_lm_lora.log");
  const auto reports = c.take_reports();
  const std::map<std::int64_t, double> val{{1, 3.412}, {10, 2.873}, {20, 2.519}, {30, 2.604}};
  EXPECT_EQ(curve(reports, "val_loss"), val);
  const std::map<std::int64_t, double> train{{10, 3.105}, {20, 2.641}, {30, 2.402}};
  EXPECT_EQ(curve(reports, "train_loss"), train);
  EXPECT_EQ(curve(reports, "learning_rate").at(20), 1e-5);
  EXPECT_EQ(curve(reports, "peak_mem_gb").at(30), 1.915);
  // The test line names no iteration: it takes the last one its stream gave.
  EXPECT_EQ(curve(reports, "test_loss"), (std::map<std::int64_t, double>{{30, 2.588}}));

  auto final = c.final_metrics();
  EXPECT_EQ(final["val_loss"], 2.519) << "best = smallest, the objective minimises";
  EXPECT_EQ(final["train_loss"], 2.402) << "no rule: the last value";
  EXPECT_EQ(final["test_loss"], 2.588);
  EXPECT_EQ(final["test_ppl"], 13.303);
}

TEST(MetricCollection, LastTakesTheFinalIterationsValidationLoss) {
  MetricCollection c(spec_of(mlx_lm_metrics("last")), {}, "val_loss");
  feed(c, "mlx_lm_lora.log");
  EXPECT_EQ(c.final_metrics()["val_loss"], 2.604);
  MetricCollection max(spec_of(mlx_lm_metrics("max")), {}, "val_loss");
  feed(max, "mlx_lm_lora.log");
  EXPECT_EQ(max.final_metrics()["val_loss"], 3.412);
}

TEST(MetricCollection, AStepPatternGivesItsStepToValuesOnTheSameAndLaterLines) {
  const json metrics{{"collectors",
                      {{{"source", "stdout"}, {"regex", R"(^Iter (?<step>\d+):)"}},
                       {{"source", "stdout"}, {"regex", R"(Val loss ([0-9.]+))"}, {"metric", "val_loss"}},
                       {{"source", "stdout"}, {"regex", R"(Test ppl (\d+\.\d+))"}, {"metric", "test_ppl"}},
                       // [0-9.]+ takes the full stop after the number too: "13.303." is no number.
                       {{"source", "stdout"}, {"regex", R"(Test ppl (?<greedy_ppl>[0-9.]+))"}}}}};
  MetricCollection c(spec_of(metrics), {}, "val_loss");
  feed(c, "mlx_lm_lora.log");
  const auto reports = c.take_reports();
  const std::map<std::int64_t, double> val{{1, 3.412}, {10, 2.873}, {20, 2.519}, {30, 2.604}};
  EXPECT_EQ(curve(reports, "val_loss"), val);
  // The test line comes after "Iter 30": it is reported at the last step seen.
  EXPECT_EQ(curve(reports, "test_ppl"), (std::map<std::int64_t, double>{{30, 13.303}}));
  EXPECT_FALSE(c.final_metrics().contains("greedy_ppl"));
}

TEST(MetricCollection, HuggingFaceLogDictsOnStdoutGiveFinalValuesOnly) {
  // transformers' ProgressCallback writes str(logs): a Python dict without the step.
  const json metrics{{"collectors",
                      {{{"source", "stdout"}, {"regex", R"('eval_loss': (?<val_loss>[-+0-9.eE]+))"}},
                       {{"source", "stdout"}, {"regex", R"('loss': (?<train_loss>[-+0-9.eE]+))"}}}},
                     {"final", {{"val_loss", "best"}}}};
  MetricCollection c(spec_of(metrics), {}, "val_loss");
  feed(c, "hf_trainer_stdout.log");
  EXPECT_TRUE(c.take_reports().empty());
  EXPECT_EQ(c.final_metrics()["val_loss"], 2.4102);
  EXPECT_EQ(c.final_metrics()["train_loss"], 2.2828) << "'train_loss': does not match 'loss': (a quote precedes loss)";
}

json trainer_state_metrics(const std::string& path) {
  return {{"collectors", {{{"source", "file"}, {"path", path}, {"records", "log_history"}, {"rename", {{"eval_loss", "val_loss"}}}}}},
          {"final", {{"val_loss", "best"}}}};
}

TEST(MetricCollection, TrainerStateLogHistoryFeedsCurvesOnceEach) {
  testing::ScratchDir dir;
  std::filesystem::create_directories(dir / "out/checkpoint-40");
  const auto text = testing::read_file(fixture("trainer_state.json"));
  MetricCollection c(spec_of(trainer_state_metrics("out/checkpoint-*/trainer_state.json")), dir.path(), "val_loss");
  // A save caught half-written is not JSON yet: nothing is taken from it.
  testing::write_file(dir / "out/checkpoint-40/trainer_state.json", text.substr(0, text.size() / 2));
  c.read_files(0.0);
  EXPECT_TRUE(c.take_reports().empty());
  testing::write_file(dir / "out/checkpoint-40/trainer_state.json", text);
  c.read_files(1.0);
  auto reports = c.take_reports();
  EXPECT_EQ(curve(reports, "val_loss"), (std::map<std::int64_t, double>{{20, 2.4102}, {40, 2.4315}}));
  EXPECT_EQ(curve(reports, "loss"), (std::map<std::int64_t, double>{{10, 2.5803}, {20, 2.4539}, {30, 2.3107}, {40, 2.2828}}));
  EXPECT_EQ(curve(reports, "train_loss").at(40), 2.406925);
  // The same history in a later checkpoint adds nothing twice.
  std::filesystem::create_directories(dir / "out/checkpoint-80");
  testing::write_file(dir / "out/checkpoint-80/trainer_state.json", text);
  c.read_files(2.0, /*at_exit=*/true);
  EXPECT_TRUE(c.take_reports().empty());
  EXPECT_EQ(c.final_metrics()["val_loss"], 2.4102);
  EXPECT_EQ(c.final_metrics()["epoch"], 1.0);
}

TEST(MetricCollection, JsonLinesFileIsReadAsItGrowsAndItsUnfinishedLastLineAtExit) {
  testing::ScratchDir dir;
  const json metrics{{"collectors", {{{"source", "file"}, {"path", "metrics.jsonl"}, {"step", "iteration"}}}}};
  MetricCollection c(spec_of(metrics), dir.path(), "val_loss");
  {
    std::ofstream out(dir / "metrics.jsonl");
    out << R"({"iteration": 1, "val_loss": 3.0})" << "\n" << R"({"iteration": 2, "val_lo)";
  }
  c.read_files(0.0);
  EXPECT_EQ(curve(c.take_reports(), "val_loss"), (std::map<std::int64_t, double>{{1, 3.0}}));
  {
    std::ofstream out(dir / "metrics.jsonl", std::ios::app);
    out << R"(ss": 2.5})" << "\n" << R"({"iteration": 3, "val_loss": 2.25})";  // no newline: the trial exited
  }
  c.read_files(0.1);  // within the poll interval: not read yet
  EXPECT_TRUE(c.take_reports().empty());
  c.read_files(0.2, /*at_exit=*/true);
  EXPECT_EQ(curve(c.take_reports(), "val_loss"), (std::map<std::int64_t, double>{{2, 2.5}, {3, 2.25}}));
  EXPECT_EQ(c.final_metrics()["val_loss"], 2.25);
}

TEST(MetricCollection, WithoutASpecTheFinalJsonLineIsTheResult) {
  MetricCollection c(std::nullopt, {}, "val_loss");
  c.line(Stream::Stdout, R"({"step": 5, "val_loss": 2.0, "peak_rss_mb": 10})");
  c.line(Stream::Stdout, "Iter 10: Val loss 1.000, Val took 0.1s");
  EXPECT_TRUE(c.final_metrics().empty());
  EXPECT_NE(c.missing().find("1 line(s) were not JSON objects"), std::string::npos) << c.missing();
  c.line(Stream::Stdout, R"({"final": true, "val_loss": 1.5})");
  const auto reports = c.take_reports();
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].metrics["reported_peak_rss_mb"], 10.0);
  EXPECT_EQ(c.final_metrics(), (json{{"val_loss", 1.5}}));
}

}  // namespace
}  // namespace lorafarm::worker
