// The method-comparison report on a real SQLite store built through the Store
// API: the Markdown table, CSV and JSON carry the DB's numbers, every HTML
// plot has data marks, and the importance measure finds the parameter that matters.
#include "report/report.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <regex>
#include <set>
#include <sstream>

#include "report/svg_plot.h"
#include "test_support.h"

namespace lorafarm::testing {

// Shared with tests/cli/report_cli_test.cpp (same test binary).
schema::ExperimentRecord report_experiment(const std::string& name, const std::string& spec_json) {
  schema::ExperimentRecord e;
  e.name = name;
  e.spec_json = spec_json;
  e.spec_hash = "hash-" + name;
  e.seed = 1;
  e.lorafarm_version = "test";
  e.host = "host";
  e.status = "FINISHED";
  e.max_trials = 10;
  e.created_at = 1000;
  return e;
}

// Nine trials over four methods with every status a report counts: learning
// curves (one trial has rows of an earlier, lost attempt that must not show),
// a rank ladder as progress metrics and one in a result.
void build_report_store(const std::filesystem::path& path, const std::string& spec_json, const std::string& spec_hash) {
  auto store = schema::Store::open_writer(path);
  store.begin();
  auto e = report_experiment("cmp", spec_json);
  if (!spec_hash.empty()) e.spec_hash = spec_hash;
  e.id = store.insert_experiment(e);
  struct Row {
    const char* method;
    double lr;
    int rank;  // 0 = none
    schema::TrialStatus status;
    double val_loss;
    int attempt;
  };
  using S = schema::TrialStatus;
  const Row rows[] = {{"lora", 0.001, 4, S::Completed, 2.0, 1},   {"lora", 0.003, 8, S::Completed, 1.8, 2},
                      {"qlora", 0.001, 4, S::Completed, 2.1, 1},  {"qlora", 0.003, 8, S::Failed, 0, 1},
                      {"dora", 0.003, 4, S::Completed, 1.9, 1},   {"full", 0.001, 0, S::Completed, 1.7, 1},
                      {"full", 0.003, 0, S::Pruned, 0, 1},        {"lora", 0.002, 4, S::Queued, 0, 1},
                      {"dora", 0.001, 8, S::Infeasible, 1.95, 1}};
  for (int i = 0; i < static_cast<int>(std::size(rows)); ++i) {
    const auto& r = rows[i];
    schema::TrialRecord t;
    t.experiment_id = e.id;
    t.number = i;
    t.params = {{"method", r.method}, {"learning_rate", r.lr}};
    if (r.rank > 0) t.params["rank"] = r.rank;
    t.seed = 100 + i;
    t.created_at = 1000 + i;
    t.id = store.insert_trial(t);
    if (r.status == S::Queued) continue;
    t.status = r.status;
    t.attempt = r.attempt;
    t.worker = "w" + std::to_string(i % 2);
    t.started_at = 1001 + i;
    t.finished_at = 1010 + i * 1.5;
    if (r.status == S::Failed) t.error = "exited with status 1, \"bad\" input";
    if (r.status == S::Completed || r.status == S::Infeasible) t.objective = r.val_loss;
    store.update_trial(t);
    for (int a = 1; a <= r.attempt; ++a) {
      for (int step = 10; step <= 50; step += 10) {
        // An earlier attempt's curve is far off, so showing it would be visible.
        const double off = a < r.attempt ? 5.0 : 0.0;
        store.insert_metric(t.id, a, step, "train_loss", r.val_loss + off + 10.0 / step);
        if (step % 25 == 0 || step == 50) store.insert_metric(t.id, a, step, "val_loss", r.val_loss + off + 5.0 / step);
      }
    }
    if (i == 1)
      for (const auto& [rank, loss] : std::map<int, double>{{1, 2.4}, {2, 2.1}, {4, 1.9}})
        store.insert_metric(t.id, r.attempt, 50, "val_loss@r" + std::to_string(rank), loss);
    if (r.status != S::Completed && r.status != S::Infeasible) continue;
    nlohmann::json metrics = {{"val_loss", r.val_loss},
                              {"val_ppl", std::exp(r.val_loss)},
                              {"test_loss", r.val_loss + 0.05},
                              {"test_ppl", std::exp(r.val_loss + 0.05)},
                              {"trainable_params", r.rank > 0 ? 1024.0 * r.rank : 98304.0},
                              {"tokens_per_second", 1000.0 + 37.25 * i},
                              {"train_seconds", 12.5 + i}};
    if (i == 4) metrics.update({{"val_loss@r1", 2.3}, {"val_loss@r2", 2.0}, {"val_loss@r4", 1.9}});
    // The memory categories an engine trial reports (schema/memory_metrics.h).
    metrics.update({{"memory_base_weights_mb", 1.0}, {"memory_quantized_weights_mb", r.method == std::string("qlora") ? 0.2 : 0.0},
                    {"memory_adapter_mb", r.rank * 0.01}, {"memory_gradients_mb", r.rank > 0 ? r.rank * 0.01 : 1.0},
                    {"memory_optimizer_state_mb", r.rank > 0 ? r.rank * 0.02 : 2.0}, {"memory_activations_mb", 3.5},
                    {"memory_reference_model_mb", 0.0}});
    store.insert_result({t.id, r.attempt, metrics, 40.0 + 3.125 * i + (r.rank == 0 ? 20 : 0), 15.0 + i});
  }
  store.commit();
}

void build_report_store(const std::filesystem::path& path) {
  build_report_store(path, R"({"name": "cmp", "objective": {"metric": "val_loss", "direction": "minimize"}, "budget": {"trials": 10},
    "search_space": {"method": {"type": "categorical", "values": ["lora", "qlora", "dora", "full"]},
                     "learning_rate": {"type": "categorical", "values": [0.001, 0.002, 0.003]},
                     "rank": {"type": "categorical", "values": [4, 8], "condition": {"param": "method", "not_in": ["full"]}}},
    "trial": {"kind": "command", "command": ["true"]}})",
                     "");
}

}  // namespace lorafarm::testing

namespace lorafarm::report {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(text);
  while (std::getline(in, item, sep)) out.push_back(item);
  return out;
}

std::string trim(std::string s) {
  while (!s.empty() && s.front() == ' ') s.erase(s.begin());
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

// A simple RFC 4180 line splitter (the report's fields hold no newlines here).
std::vector<std::string> csv_fields(const std::string& line) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') out.back() += '"', ++i;
      else if (c == '"') quoted = false;
      else out.back() += c;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      out.emplace_back();
    } else {
      out.back() += c;
    }
  }
  return out;
}

// Table cells are rounded to 5 significant digits (percentages to 3).
void expect_close(const std::string& cell, std::optional<double> expected, const std::string& what, double relative = 1e-4) {
  ASSERT_TRUE(expected) << what;
  ASSERT_NE(cell, "–") << what;
  const double v = std::stod(cell);
  EXPECT_NEAR(v, *expected, std::fabs(*expected) * relative + 1e-9) << what << ": cell '" << cell << "'";
}

// Independent of the report: the DB's own rows for one method.
struct Expected {
  std::int64_t trials = 0, completed = 0, failed = 0, pruned = 0, run = 0;
  std::optional<schema::TrialRecord> best;
};
std::map<std::string, Expected> expected_by_method(schema::Store& store, std::int64_t experiment) {
  std::map<std::string, Expected> out;
  for (const auto& t : store.trials(experiment)) {
    auto& e = out[t.params["method"].get<std::string>()];
    ++e.trials;
    if (t.status != schema::TrialStatus::Queued) ++e.run;
    if (t.status == schema::TrialStatus::Completed) ++e.completed;
    if (t.status == schema::TrialStatus::Failed || t.status == schema::TrialStatus::Infeasible || t.status == schema::TrialStatus::Lost)
      ++e.failed;
    if (t.status == schema::TrialStatus::Pruned) ++e.pruned;
    if (t.status == schema::TrialStatus::Completed && (!e.best || *t.objective < *e.best->objective)) e.best = t;
  }
  return out;
}

TEST(Report, MarkdownTableEqualsTheDatabaseRows) {
  testing::ScratchDir dir;
  const auto path = dir / "db.sqlite";
  testing::build_report_store(path);
  auto store = schema::Store::open_reader(path);
  const auto experiment = *store.find_experiment("cmp");
  ReportContext context;
  context.model_parameters = 100000;
  context.base = schema::BaseScoresRecord{0, 4.25, std::exp(4.25), 4.3, std::exp(4.3), std::nullopt, {}, 0};
  const std::string md = render_report(store, experiment, ReportFormat::Markdown, context);

  const auto expected = expected_by_method(store, experiment.id);
  std::map<std::string, std::vector<std::string>> rows;
  // The comparison table: the first table of the page (the memory breakdown follows it).
  const std::string comparison = md.substr(0, md.find("#### Memory by category"));
  for (const auto& line : split(comparison, '\n')) {
    if (line.rfind("| ", 0) != 0 || line.find("---") != std::string::npos) continue;
    auto cells = split(line.substr(1), '|');
    for (auto& c : cells) c = trim(c);
    rows[cells[0]] = cells;
  }
  ASSERT_TRUE(rows.count("method")) << md;
  const auto& header = rows["method"];
  auto column = [&](const std::string& name) {
    const auto it = std::find(header.begin(), header.end(), name);
    EXPECT_NE(it, header.end()) << name;
    return static_cast<std::size_t>(it - header.begin());
  };
  ASSERT_TRUE(rows.count("base model (untrained)")) << md;
  expect_close(rows["base model (untrained)"][column("val ppl")], std::exp(4.25), "base val ppl");
  expect_close(rows["base model (untrained)"][column("test ppl")], std::exp(4.3), "base test ppl");

  ASSERT_EQ(expected.size(), 4u);
  for (const auto& [method, e] : expected) {
    ASSERT_TRUE(rows.count(method)) << method << "\n" << md;
    const auto& r = rows[method];
    EXPECT_EQ(r[column("trials run")], std::to_string(e.run)) << method;
    EXPECT_EQ(r[column("completed")], std::to_string(e.completed)) << method;
    EXPECT_EQ(r[column("failed")], std::to_string(e.failed)) << method;
    EXPECT_EQ(r[column("pruned")], std::to_string(e.pruned)) << method;
    if (!e.best) {
      EXPECT_EQ(r[column("best trial")], "–") << method;
      continue;
    }
    EXPECT_EQ(r[column("best trial")], std::to_string(e.best->number)) << method;
    const auto result = store.result(e.best->id);
    ASSERT_TRUE(result);
    const auto m = [&](const char* k) { return std::optional<double>(result->metrics.at(k).get<double>()); };
    expect_close(r[column("val ppl")], m("val_ppl"), method + " val ppl");
    expect_close(r[column("test ppl")], m("test_ppl"), method + " test ppl");
    expect_close(r[column("peak RSS, wait4 (MB)")], result->peak_rss_mb, method + " peak RSS");
    EXPECT_EQ(r[column("trainable params")], std::to_string(static_cast<long long>(*m("trainable_params")))) << method;
    expect_close(r[column("% of model")].substr(0, r[column("% of model")].find(' ')), 100.0 * *m("trainable_params") / 100000,
                 method + " % of model", 5e-3);
    expect_close(r[column("train time (s)")], m("train_seconds"), method + " time");
    expect_close(r[column("tokens/s")], m("tokens_per_second"), method + " tokens/s");
    // The configuration shows the best trial's own learning rate.
    EXPECT_THAT(r[column("configuration")], HasSubstr("learning_rate=" + svg::format_number(e.best->params["learning_rate"].get<double>(), 6)));
  }
}

TEST(Report, CsvHoldsEveryTrialWithExactValues) {
  testing::ScratchDir dir;
  const auto path = dir / "db.sqlite";
  testing::build_report_store(path);
  auto store = schema::Store::open_reader(path);
  const auto experiment = *store.find_experiment("cmp");
  const std::string csv = render_report(store, experiment, ReportFormat::Csv, {});
  const auto lines = split(csv, '\n');
  const auto trials = store.trials(experiment.id);
  ASSERT_EQ(lines.size(), trials.size() + 1) << csv;
  const auto header = csv_fields(lines[0]);
  auto column = [&](const std::string& name) {
    const auto it = std::find(header.begin(), header.end(), name);
    EXPECT_NE(it, header.end()) << name << " in " << lines[0];
    return static_cast<std::size_t>(it - header.begin());
  };
  for (std::size_t i = 0; i < trials.size(); ++i) {
    const auto& t = trials[i];
    const auto f = csv_fields(lines[i + 1]);
    ASSERT_EQ(f.size(), header.size()) << lines[i + 1];
    EXPECT_EQ(f[column("trial")], std::to_string(t.number));
    EXPECT_EQ(f[column("status")], std::string(schema::to_string(t.status)));
    EXPECT_EQ(f[column("param.method")], t.params["method"].get<std::string>());
    EXPECT_EQ(std::stod(f[column("param.learning_rate")]), t.params["learning_rate"].get<double>());
    if (t.params.contains("rank")) EXPECT_EQ(f[column("param.rank")], std::to_string(t.params["rank"].get<int>()));
    else EXPECT_EQ(f[column("param.rank")], "");
    if (t.objective) EXPECT_EQ(std::stod(f[column("objective")]), *t.objective);  // exact: shortest round-trip text
    else EXPECT_EQ(f[column("objective")], "");
    EXPECT_EQ(f[column("error")], t.error);
    const auto result = store.result(t.id);
    if (!result) {
      EXPECT_EQ(f[column("result.val_ppl")], "");
      continue;
    }
    for (const auto& [k, v] : result->metrics.items()) EXPECT_EQ(std::stod(f[column("result." + k)]), v.get<double>()) << k;
    EXPECT_EQ(std::stod(f[column("peak_rss_mb")]), *result->peak_rss_mb);
  }
}

TEST(Report, JsonHoldsEveryTrialAndTheMethodRows) {
  testing::ScratchDir dir;
  const auto path = dir / "db.sqlite";
  testing::build_report_store(path);
  auto store = schema::Store::open_reader(path);
  const auto experiment = *store.find_experiment("cmp");
  ReportContext context;
  context.model_parameters = 100000;
  const json j = json::parse(render_report(store, experiment, ReportFormat::Json, context));
  const auto trials = store.trials(experiment.id);
  ASSERT_EQ(j["trials"].size(), trials.size());
  for (std::size_t i = 0; i < trials.size(); ++i) {
    const auto& row = j["trials"][i];
    EXPECT_EQ(row["number"], trials[i].number);
    EXPECT_EQ(row["params"], trials[i].params);
    EXPECT_EQ(row["status"], std::string(schema::to_string(trials[i].status)));
    const auto result = store.result(trials[i].id);
    if (result) {
      EXPECT_EQ(row["result"]["metrics"], result->metrics);
      EXPECT_EQ(row["result"]["peak_rss_mb"].get<double>(), *result->peak_rss_mb);
      EXPECT_EQ(row["objective"].get<double>(), *trials[i].objective);
    } else {
      EXPECT_TRUE(row["result"].is_null());
    }
  }
  const auto expected = expected_by_method(store, experiment.id);
  ASSERT_EQ(j["methods"].size(), expected.size());
  for (const auto& m : j["methods"]) {
    const auto& e = expected.at(m["method"].get<std::string>());
    EXPECT_EQ(m["completed"], e.completed);
    EXPECT_EQ(m["failed"], e.failed);
    EXPECT_EQ(m["pruned"], e.pruned);
    if (!e.best) {
      EXPECT_TRUE(m["best_trial"].is_null());
      continue;
    }
    EXPECT_EQ(m["best_trial"], e.best->number);
    const auto result = store.result(e.best->id);
    EXPECT_EQ(m["val_ppl"].get<double>(), result->metrics["val_ppl"].get<double>());
    EXPECT_DOUBLE_EQ(m["trainable_percent"].get<double>(), 100.0 * result->metrics["trainable_params"].get<double>() / 100000);
  }
  EXPECT_TRUE(j["base"].is_null());
  EXPECT_EQ(j["model_parameters"], 100000);
}

TEST(Report, EveryHtmlPlotHasDataMarksAndThePageIsSelfContained) {
  testing::ScratchDir dir;
  const auto path = dir / "db.sqlite";
  testing::build_report_store(path);
  auto store = schema::Store::open_reader(path);
  const auto experiment = *store.find_experiment("cmp");
  const std::string html = render_report(store, experiment, ReportFormat::Html, {});
  std::set<std::string> ids;
  const std::string open = "<figure id=\"";
  for (auto at = html.find(open); at != std::string::npos; at = html.find(open, at + 1)) {
    const auto id_end = html.find('"', at + open.size());
    const auto close = html.find("</figure>", at);
    ASSERT_NE(close, std::string::npos);
    const std::string id = html.substr(at + open.size(), id_end - at - open.size());
    const std::string figure = html.substr(at, close - at);
    ids.insert(id);
    EXPECT_THAT(figure, HasSubstr("class=\"plot-figure\"")) << id << " is empty";
    EXPECT_THAT(figure, HasSubstr("<svg")) << id;
    EXPECT_THAT(figure, HasSubstr("class=\"mark\"")) << id;
  }
  EXPECT_EQ(ids, (std::set<std::string>{"learning-curves", "perplexity-memory", "memory-breakdown", "rank-curves", "history", "parallel-coordinates",
                                         "importance"}));
  EXPECT_THAT(html, Not(HasSubstr("<script")));
  EXPECT_THAT(html, Not(HasSubstr("<link")));
  EXPECT_THAT(html, Not(HasSubstr("src=")));
  EXPECT_THAT(html, HasSubstr("prefers-color-scheme: dark"));
  EXPECT_THAT(html, HasSubstr("peak RSS, wait4 (MB)"));  // axes carry units
  EXPECT_THAT(html, HasSubstr("loss (nats/token)"));
}

TEST(Report, LearningCurvesAndRankLaddersComeFromTheBestTrials) {
  testing::ScratchDir dir;
  const auto path = dir / "db.sqlite";
  testing::build_report_store(path);
  auto store = schema::Store::open_reader(path);
  const auto data = collect_report(store, *store.find_experiment("cmp"));
  // Each method's best trial has its curve, and only the counted attempt's rows.
  for (const auto& m : data.methods) {
    if (!m.best) continue;
    const auto& best = data.trials[*m.best];
    ASSERT_TRUE(data.curves.count(best.trial.number)) << m.method;
    for (const auto& r : data.curves.at(best.trial.number)) EXPECT_EQ(r.attempt, best.result->attempt);
    EXPECT_FALSE(data.curves.at(best.trial.number).empty());
  }
  // The dora trial reported a ladder in its result; the lora trial as progress metrics.
  ASSERT_EQ(data.rank_ladders.size(), 2u);
  for (const auto& [number, ladder] : data.rank_ladders) {
    EXPECT_EQ(ladder.size(), 3u);
    EXPECT_TRUE(ladder.count(1) && ladder.count(2) && ladder.count(4));
  }
}

TEST(Report, ImportanceFindsTheParameterTheObjectiveDependsOn) {
  testing::ScratchDir dir;
  const auto path = dir / "db.sqlite";
  {
    auto store = schema::Store::open_writer(path);
    store.begin();
    auto e = testing::report_experiment("imp", R"({"objective": {"metric": "val_loss"}, "search_space": {}})");
    e.id = store.insert_experiment(e);
    // Objective = 3 − learning_rate·100 exactly; `noise` cycles independently of it.
    for (int i = 0; i < 40; ++i) {
      schema::TrialRecord t;
      t.experiment_id = e.id;
      t.number = i;
      const double lr = 0.001 * (1 + i % 5);
      t.params = {{"learning_rate", lr}, {"noise", (i / 5) % 2 == 0 ? "a" : "b"}};
      t.status = schema::TrialStatus::Completed;
      t.objective = 3 - lr * 100;
      store.insert_trial(t);
    }
    store.commit();
  }
  auto store = schema::Store::open_reader(path);
  const auto data = collect_report(store, *store.find_experiment("imp"));
  const auto importance = parameter_importance(data);
  ASSERT_EQ(importance.size(), 2u);
  EXPECT_EQ(importance[0].name, "learning_rate");
  EXPECT_NEAR(importance[0].variance_fraction, 1.0, 1e-12);  // five bins, each a single value: all variance explained
  EXPECT_NEAR(importance[0].share + importance[1].share, 1.0, 1e-12);
  EXPECT_GT(importance[0].share, 0.95);
}

TEST(Report, AnExperimentWithoutTrialsRendersWithEmptyPlotsSaid) {
  testing::ScratchDir dir;
  const auto path = dir / "db.sqlite";
  {
    auto store = schema::Store::open_writer(path);
    store.insert_experiment(testing::report_experiment("none", "{}"));
  }
  auto store = schema::Store::open_reader(path);
  const auto experiment = *store.find_experiment("none");
  const auto data = collect_report(store, experiment);
  for (const auto& plot : report_plots(data)) {
    EXPECT_TRUE(plot.empty) << plot.id;
    EXPECT_THAT(plot.svg, Not(HasSubstr("class=\"mark\""))) << plot.id;
  }
  EXPECT_THAT(render_report(data, ReportFormat::Markdown, {}), HasSubstr("0 of 10 trials"));
  EXPECT_EQ(split(render_report(data, ReportFormat::Csv, {}), '\n').size(), 1u);
}

// Read-only views fall back when a stored spec no longer parses, and say so
// naming the experiment (rerun and the base row refuse instead).
TEST(Report, AStoredSpecThatNoLongerParsesIsNamedAndDefaultsShow) {
  testing::ScratchDir dir;
  const auto path = dir / "db.sqlite";
  {
    auto store = schema::Store::open_writer(path);
    store.insert_experiment(testing::report_experiment("old", R"({"name": "old", "objective": {"metric": "val_ppl"}, "budget": 3})"));
  }
  auto store = schema::Store::open_reader(path);
  const auto summary = summarize(store, *store.find_experiment("old"));
  EXPECT_THAT(summary.spec_error, HasSubstr("experiment 'old'"));
  EXPECT_EQ(summary.metric, "val_loss");
  EXPECT_THAT(render_table(summary), HasSubstr("experiment 'old'"));
  EXPECT_THAT(to_json(summary)["spec_error"].get<std::string>(), HasSubstr("cannot read it back"));
  EXPECT_THAT(render_report(store, *store.find_experiment("old"), ReportFormat::Markdown, {}), HasSubstr("default objective"));
}

TEST(Report, UnknownFormatNamesTheValue) {
  EXPECT_EQ(report_format_from("md"), ReportFormat::Markdown);
  EXPECT_EQ(report_format_from("html"), ReportFormat::Html);
  try {
    report_format_from("pdf");
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("'pdf'"));
    EXPECT_THAT(e.what(), HasSubstr("html, md, csv, json"));
  }
}

}  // namespace
}  // namespace lorafarm::report
