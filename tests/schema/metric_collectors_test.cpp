// trial.metrics in a sweep spec: what a valid one becomes (and sends to the
// worker), and one test per kind of mistake, each naming the field.
#include "schema/metric_collectors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "schema/sweep_spec.h"

namespace lorafarm::schema {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using nlohmann::json;

json spec_with(const json& metrics, const std::string& direction = "minimize") {
  return {{"name", "c"},
          {"objective", {{"metric", "val_loss"}, {"direction", direction}}},
          {"budget", {{"trials", 2}}},
          {"search_space", {{"lr", {{"type", "float"}, {"low", 1e-5}, {"high", 1e-3}}}}},
          {"trial", {{"kind", "command"}, {"command", {"python3", "train.py", "{lr}"}}, {"metrics", metrics}}}};
}

std::string error_of(const json& doc) {
  try {
    parse_sweep_spec(doc.dump(), "/tmp", "spec.json");
  } catch (const SpecError& e) {
    return e.what();
  }
  return "(no error)";
}

json mlx_lm() {
  return {{"collectors",
           {{{"source", "stdout"}, {"regex", R"(^Iter (?<step>\d+): Val loss (?<val_loss>[0-9.]+))"}},
            {{"source", "stderr"}, {"regex", R"(loss=([0-9.]+))"}, {"metric", "bar_loss"}},
            {{"source", "file"}, {"path", "out/checkpoint-*/trainer_state.json"}, {"records", "log_history"}},
            {{"source", "json_lines"}}}},
          {"final", {{"val_loss", "best"}, {"bar_loss", "min"}}}};
}

TEST(MetricCollectors, ParsesEachSourceAndResolvesBestToTheObjectivesDirection) {
  const auto spec = parse_sweep_spec(spec_with(mlx_lm(), "maximize").dump(), "/tmp", "spec.json");
  ASSERT_TRUE(spec.trial.metrics);
  const auto& m = *spec.trial.metrics;
  ASSERT_EQ(m.collectors.size(), 4u);
  EXPECT_EQ(m.collectors[0].step_group, 1);
  ASSERT_EQ(m.collectors[0].metric_groups.size(), 1u);
  EXPECT_EQ(m.collectors[0].metric_groups[0], (std::pair<int, std::string>{2, "val_loss"}));
  EXPECT_EQ(m.collectors[1].metric_groups[0], (std::pair<int, std::string>{1, "bar_loss"}));
  EXPECT_FALSE(m.collectors[2].jsonl);
  EXPECT_EQ(m.rule("val_loss"), FinalRule::Max) << "best, for an objective that is maximised";
  EXPECT_EQ(m.rule("bar_loss"), FinalRule::Min);
  EXPECT_EQ(m.rule("anything_else"), FinalRule::Last);
  // The worker gets the same collectors back from the ASSIGN body.
  const auto again = parse_metrics_spec("ASSIGN", m.to_json(), "metrics", nullptr);
  EXPECT_EQ(again.to_json(), m.to_json());
  EXPECT_EQ(again.rule("val_loss"), FinalRule::Max);
}

TEST(MetricCollectors, PythonStyleNamedGroupsAreAccepted) {
  const RegexPattern p(R"(Iter (?P<step>\d+): Val loss (?P<val_loss>[0-9.]+))");
  EXPECT_EQ(p.group_number("val_loss"), 2);
  const auto m = p.match("Iter 20: Val loss 2.519, Val took 1.501s");
  ASSERT_TRUE(m);
  EXPECT_EQ(*(*m)[1], "20");
  EXPECT_EQ(*(*m)[2], "2.519");
  EXPECT_FALSE(p.match("Iter 20: Train loss 2.641"));
}

TEST(MetricCollectors, ABadRegexNamesItsField) {
  EXPECT_THAT(error_of(spec_with({{"collectors", {{{"source", "stdout"}, {"regex", "Val loss (?<val_loss>[0-9.]+"}}}}})),
              AllOf(HasSubstr("spec.json: trial.metrics.collectors[0].regex: not a valid PCRE2 pattern"), HasSubstr("offset")));
}

TEST(MetricCollectors, AnUnknownSourceNamesTheAllowedOnes) {
  EXPECT_THAT(error_of(spec_with({{"collectors", {{{"source", "tensorboard"}}}}})),
              AllOf(HasSubstr("trial.metrics.collectors[0].source: \"tensorboard\" is not allowed"), HasSubstr("json_lines, stdout, stderr, file")));
}

TEST(MetricCollectors, MissingFieldsAreNamed) {
  EXPECT_THAT(error_of(spec_with({{"collectors", {{{"source", "json_lines"}}, {{"source", "file"}}}}})),
              HasSubstr("trial.metrics.collectors[1].path: missing"));
  EXPECT_THAT(error_of(spec_with({{"collectors", {{{"source", "stdout"}}}}})), HasSubstr("trial.metrics.collectors[0].regex: missing"));
  EXPECT_THAT(error_of(spec_with({{"final", {{"val_loss", "best"}}}})), HasSubstr("trial.metrics.collectors: missing"));
  EXPECT_THAT(error_of(spec_with({{"collectors", {{{"source", "stdout"}, {"regex", "loss"}}}}})),
              HasSubstr("trial.metrics.collectors[0].regex: captures neither a metric nor a step"));
  EXPECT_THAT(error_of(spec_with({{"collectors", {{{"source", "stdout"}, {"regex", "(?<step>\\d+) loss"}, {"metric", "val_loss"}}}}})),
              HasSubstr("trial.metrics.collectors[0].regex: has no capture group for the value of \"val_loss\""));
}

TEST(MetricCollectors, UnknownFieldsAndRulesAreErrors) {
  EXPECT_THAT(error_of(spec_with({{"collectors", {{{"source", "stdout"}, {"regex", "(?<val_loss>\\d+)"}, {"path", "x"}}}}})),
              HasSubstr("trial.metrics.collectors[0].path: unknown field; allowed: metric, regex, source"));
  EXPECT_THAT(error_of(spec_with({{"collectors", {{{"source", "json_lines"}}}}, {"final", {{"val_loss", "first"}}}})),
              HasSubstr("trial.metrics.final.val_loss: \"first\" is not allowed; allowed: last, best, min, max"));
  EXPECT_THAT(error_of(spec_with({{"collectors", {{{"source", "json_lines"}}}}, {"final", {{"train_loss", "best"}}}})),
              HasSubstr("trial.metrics.final.train_loss: \"best\" needs a direction"));
  EXPECT_THAT(error_of(spec_with({{"collectors", {{{"source", "file"}, {"path", "m.jsonl"}, {"records", "log_history"}}}}})),
              HasSubstr("trial.metrics.collectors[0].records: only for \"format\": \"json\""));
}

TEST(MetricCollectors, CollectorsThatCannotYieldTheObjectiveAreAnError) {
  EXPECT_THAT(error_of(spec_with({{"collectors", {{{"source", "stdout"}, {"regex", "Train loss (?<train_loss>[0-9.]+)"}}}}})),
              AllOf(HasSubstr("trial.metrics.collectors: no collector yields 'val_loss'"), HasSubstr("(?<val_loss>")));
}

TEST(MetricCollectors, EngineTrialsTakeNoCollectors) {
  auto doc = spec_with({{"collectors", {{{"source", "json_lines"}}}}});
  doc["trial"] = {{"kind", "engine"}, {"metrics", {{"collectors", {{{"source", "json_lines"}}}}}}};
  doc["model"] = "m";
  doc["data"] = "d";
  EXPECT_THAT(error_of(doc), HasSubstr("trial.metrics: only for \"kind\": \"command\""));
}

}  // namespace
}  // namespace lorafarm::schema
