// Sweep-spec parsing: a valid spec, and one test per kind of mistake, each
// checking that the message names the field, the value and what is allowed.
#include "schema/sweep_spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace lorafarm::schema {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

const char* kValid = R"({
  // comments are allowed
  "name": "demo",
  "seed": 7,
  "objective": {"metric": "val_loss", "direction": "minimize"},
  "constraints": ["peak_rss_mb <= 4096"],
  "budget": {"trials": 10, "parallel": 2, "max_attempts": 2, "deadline": "07:30"},
  "search": {"algorithm": "sobol"},
  "search_space": {
    "method": {"type": "categorical", "values": ["lora", "full"]},
    "learning_rate": {"type": "float", "low": 1e-5, "high": 1e-2, "log": true},
    "rank": {"type": "int", "low": 2, "high": 16, "log": true, "condition": {"param": "method", "not_in": ["full"]}}
  },
  "fixed": {"steps": 20},
  "trial": {"kind": "command", "command": ["python3", "{spec_dir}/t.py", "--lr", "{learning_rate}", "--steps", "{steps}"], "timeout_seconds": 30}
})";

nlohmann::json valid() { return nlohmann::json::parse(kValid, nullptr, true, true); }

std::string error_of(const nlohmann::json& doc) {
  try {
    parse_sweep_spec(doc.dump(), "/tmp", "spec.json");
  } catch (const SpecError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(SweepSpec, ParsesAValidSpecWithComments) {
  const auto spec = parse_sweep_spec(kValid, "/tmp", "spec.json");
  EXPECT_EQ(spec.name, "demo");
  EXPECT_EQ(spec.seed, 7u);
  EXPECT_EQ(spec.budget.trials, 10);
  EXPECT_EQ(spec.budget.parallel, 2);
  EXPECT_EQ(spec.budget.max_attempts, 2);
  EXPECT_EQ(spec.budget.deadline_clock, "07:30");
  EXPECT_EQ(spec.algorithm, "sobol");
  EXPECT_EQ(spec.space.dimensions(), 3u);
  EXPECT_EQ(spec.trial.kind, TrialKind::Command);
  EXPECT_DOUBLE_EQ(spec.trial.timeout_seconds, 30);
  ASSERT_EQ(spec.constraints.size(), 1u);
  EXPECT_EQ(spec.memory_limit_mb(), 4096);
  EXPECT_TRUE(spec.constraints[0].satisfied(4096));
  EXPECT_FALSE(spec.constraints[0].satisfied(4097));
}

TEST(SweepSpec, HashIgnoresTheBudgetButNotTheSpace) {
  auto a = valid();
  auto b = valid();
  b["budget"]["trials"] = 99;
  auto c = valid();
  c["search_space"]["learning_rate"]["high"] = 0.1;
  const auto ha = parse_sweep_spec(a.dump(), "/tmp").hash();
  EXPECT_EQ(ha, parse_sweep_spec(b.dump(), "/tmp").hash());
  EXPECT_NE(ha, parse_sweep_spec(c.dump(), "/tmp").hash());
}

TEST(SweepSpec, RejectsTextThatIsNotJson) {
  try {
    parse_sweep_spec("{\"name\": ", "/tmp", "bad.json");
    FAIL();
  } catch (const SpecError& e) {
    EXPECT_THAT(e.what(), AllOf(HasSubstr("bad.json"), HasSubstr("not valid JSON")));
  }
}

TEST(SweepSpec, RejectsAnUnknownTopLevelFieldListingTheAllowedOnes) {
  auto d = valid();
  d["budjet"] = 3;
  EXPECT_THAT(error_of(d), AllOf(HasSubstr("budjet"), HasSubstr("unknown field"), HasSubstr("budget")));
}

TEST(SweepSpec, RejectsAMissingOrMalformedName) {
  auto d = valid();
  d.erase("name");
  EXPECT_THAT(error_of(d), AllOf(HasSubstr("name"), HasSubstr("missing")));
  d["name"] = "has space";
  EXPECT_THAT(error_of(d), AllOf(HasSubstr("name"), HasSubstr("has space"), HasSubstr("[A-Za-z0-9_.-]")));
}

TEST(SweepSpec, RejectsANegativeSeed) {
  auto d = valid();
  d["seed"] = -1;
  EXPECT_THAT(error_of(d), AllOf(HasSubstr("seed"), HasSubstr("-1"), HasSubstr(">= 0")));
}

TEST(SweepSpec, RejectsAnUnknownTrialKind) {
  auto d = valid();
  d["trial"]["kind"] = "docker";
  EXPECT_THAT(error_of(d), AllOf(HasSubstr("trial.kind"), HasSubstr("docker"), HasSubstr("engine, command")));
}

TEST(SweepSpec, RejectsACommandTrialWithoutOrWithABadCommand) {
  auto d = valid();
  d["trial"].erase("command");
  EXPECT_THAT(error_of(d), AllOf(HasSubstr("trial.command"), HasSubstr("missing")));
  d["trial"]["command"] = {"python3", 3};
  EXPECT_THAT(error_of(d), AllOf(HasSubstr("trial.command[1]"), HasSubstr("must be a string"), HasSubstr("3")));
}

TEST(SweepSpec, RejectsAnEngineTrialWithoutModel) {
  auto d = valid();
  d["trial"] = {{"kind", "engine"}};
  EXPECT_THAT(error_of(d), AllOf(HasSubstr("model"), HasSubstr("missing")));
}

TEST(SweepSpec, RejectsAnUnknownPlaceholder) {
  auto d = valid();
  d["trial"]["command"] = {"run", "{learnig_rate}"};
  EXPECT_THAT(error_of(d), AllOf(HasSubstr("trial.command[1]"), HasSubstr("{learnig_rate}"), HasSubstr("learning_rate")));
}

TEST(SweepSpec, RejectsABadBudget) {
  auto d = valid();
  d.erase("budget");
  EXPECT_THAT(error_of(d), AllOf(HasSubstr("budget"), HasSubstr("missing")));
  d = valid();
  d["budget"]["trials"] = 0;
  EXPECT_THAT(error_of(d), AllOf(HasSubstr("budget.trials"), HasSubstr(">= 1"), HasSubstr("got 0")));
  d = valid();
  d["budget"]["trials"] = 2.5;
  EXPECT_THAT(error_of(d), AllOf(HasSubstr("budget.trials"), HasSubstr("integer"), HasSubstr("2.5")));
  d = valid();
  d["budget"]["deadline"] = "7pm";
  EXPECT_THAT(error_of(d), AllOf(HasSubstr("budget.deadline"), HasSubstr("7pm"), HasSubstr("HH:MM")));
  d = valid();
  d["budget"]["max_attempts"] = 0;
  EXPECT_THAT(error_of(d), AllOf(HasSubstr("budget.max_attempts"), HasSubstr(">= 1")));
}

TEST(SweepSpec, RejectsABadObjectiveDirection) {
  auto d = valid();
  d["objective"]["direction"] = "lower";
  EXPECT_THAT(error_of(d), AllOf(HasSubstr("objective.direction"), HasSubstr("lower"), HasSubstr("minimize, maximize")));
}

TEST(SweepSpec, ParsesTwoOrThreeObjectivesTheFirstBeingThePrimary) {
  auto d = valid();
  d.erase("objective");
  d["objectives"] = {{{"metric", "val_ppl"}}, {{"metric", "peak_rss_mb"}, {"direction", "minimize"}},
                     {{"metric", "tokens_per_second"}, {"direction", "maximize"}}};
  const auto spec = parse_sweep_spec(d.dump(), "/tmp");
  EXPECT_EQ(spec.objective.metric, "val_ppl");
  EXPECT_FALSE(spec.objective.maximize);
  ASSERT_EQ(spec.more_objectives.size(), 2u);
  EXPECT_EQ(spec.more_objectives[0].metric, "peak_rss_mb");
  EXPECT_TRUE(spec.more_objectives[1].maximize);
}

TEST(SweepSpec, RejectsObjectivesThatAreBothGivenTooFewOrRepeated) {
  auto both = valid();
  both["objectives"] = {{{"metric", "val_ppl"}}, {{"metric", "peak_rss_mb"}}};
  EXPECT_THAT(error_of(both), AllOf(HasSubstr("objectives"), HasSubstr("not both")));
  auto one = valid();
  one.erase("objective");
  one["objectives"] = {{{"metric", "val_ppl"}}};
  EXPECT_THAT(error_of(one), AllOf(HasSubstr("objectives"), HasSubstr("2 or 3")));
  auto repeated = valid();
  repeated.erase("objective");
  repeated["objectives"] = {{{"metric", "val_ppl"}}, {{"metric", "val_ppl"}, {"direction", "maximize"}}};
  EXPECT_THAT(error_of(repeated), AllOf(HasSubstr("objectives[1].metric"), HasSubstr("listed twice")));
  auto direction = valid();
  direction.erase("objective");
  direction["objectives"] = {{{"metric", "val_ppl"}}, {{"metric", "peak_rss_mb"}, {"direction", "down"}}};
  EXPECT_THAT(error_of(direction), AllOf(HasSubstr("objectives[1].direction"), HasSubstr("down")));
}

TEST(SweepSpec, RejectsAMalformedConstraint) {
  auto d = valid();
  d["constraints"] = {"peak_rss_mb =< 4096"};
  EXPECT_THAT(error_of(d), AllOf(HasSubstr("constraints[0]"), HasSubstr("=<"), HasSubstr("METRIC OP NUMBER")));
}

TEST(SweepSpec, RejectsAnUnknownAlgorithm) {
  auto d = valid();
  d["search"]["algorithm"] = "hyperband";
  EXPECT_THAT(error_of(d), AllOf(HasSubstr("search.algorithm"), HasSubstr("hyperband"), HasSubstr("random, sobol, grid")));
}

TEST(SweepSpec, ParsesSearchOptionsAndRejectsUnknownOrInvalidOnes) {
  auto d = valid();
  d["search"] = {{"algorithm", "gp"}, {"initial_trials", 4}, {"warm_start", "yesterday"},
                 {"enqueue", {{{"method", "full"}, {"learning_rate", 1e-3}}}}};
  const auto spec = parse_sweep_spec(d.dump(), "/tmp");
  EXPECT_EQ(spec.initial_trials, 4);
  EXPECT_EQ(spec.warm_start, "yesterday");
  ASSERT_EQ(spec.enqueue.size(), 1u);
  EXPECT_EQ(spec.enqueue[0]["method"], "full");

  auto unknown = valid();
  unknown["search"]["n_startup"] = 3;
  EXPECT_THAT(error_of(unknown), AllOf(HasSubstr("search"), HasSubstr("n_startup"), HasSubstr("enqueue")));
  auto warm_sobol = valid();
  warm_sobol["search"]["warm_start"] = "yesterday";  // sobol has no model to warm
  EXPECT_THAT(error_of(warm_sobol), HasSubstr("warm_start"));
  auto inactive = valid();
  inactive["search"]["enqueue"] = {{{"method", "full"}, {"learning_rate", 1e-3}, {"rank", 4}}};
  EXPECT_THAT(error_of(inactive), AllOf(HasSubstr("search.enqueue[0]"), HasSubstr("rank"), HasSubstr("inactive")));
  auto outside = valid();
  outside["search"]["enqueue"] = {{{"method", "lora"}, {"learning_rate", 1.0}, {"rank", 4}}};
  EXPECT_THAT(error_of(outside), AllOf(HasSubstr("search.enqueue[0]"), HasSubstr("learning_rate"), HasSubstr("outside")));
  auto shuffle = valid();
  shuffle["search"] = {{"algorithm", "grid"}, {"shuffle", "no"}};
  EXPECT_THAT(error_of(shuffle), HasSubstr("search.shuffle"));
}

// Only gp warm-starts, and `algorithm` ranks trials by one objective.
void expect_no_warm_start_and_one_objective(const nlohmann::json& spec, const std::string& algorithm) {
  auto warm = spec;
  warm["search"]["warm_start"] = "yesterday";
  EXPECT_THAT(error_of(warm), HasSubstr("warm_start"));
  auto two = spec;
  two.erase("objective");
  two["objectives"] = {{{"metric", "val_loss"}}, {{"metric", "peak_rss_mb"}}};
  EXPECT_THAT(error_of(two), AllOf(HasSubstr(algorithm), HasSubstr("one objective")));
}

// "bohb" is fitted at the scheduler's rungs: without ASHA it has no budgets.
TEST(SweepSpec, BohbNeedsAnAshaSchedulerAndOneObjective) {
  auto d = valid();
  d["search"] = {{"algorithm", "bohb"}, {"random_fraction", 0.2}, {"initial_trials", 6}};
  EXPECT_THAT(error_of(d), AllOf(HasSubstr("search.algorithm"), HasSubstr("bohb"), HasSubstr("asha")));
  d["scheduler"] = {{"type", "asha"}, {"max_resource", 24}, {"min_resource", 6}, {"reduction_factor", 2}};
  const auto spec = parse_sweep_spec(d.dump(), "/tmp");
  EXPECT_EQ(spec.algorithm, "bohb");
  EXPECT_EQ(spec.initial_trials, 6);
  EXPECT_EQ(spec.algorithm_options["random_fraction"], 0.2);
  auto fraction = d;
  fraction["search"]["random_fraction"] = 1.0;
  EXPECT_THAT(error_of(fraction), HasSubstr("search.random_fraction"));
  expect_no_warm_start_and_one_objective(d, "bohb");
}

// "tpe" takes the size of its random start and ranks trials by one objective.
TEST(SweepSpec, TpeTakesInitialTrialsAndOneObjective) {
  auto d = valid();
  d["search"] = {{"algorithm", "tpe"}, {"initial_trials", 6}};
  const auto spec = parse_sweep_spec(d.dump(), "/tmp");
  EXPECT_EQ(spec.algorithm, "tpe");
  EXPECT_EQ(spec.initial_trials, 6);
  expect_no_warm_start_and_one_objective(d, "tpe");
}

TEST(SweepSpec, ParsesAnAshaSchedulerWithDefaultsFromTheObjective) {
  auto d = valid();
  d["objective"] = {{"metric", "val_acc"}, {"direction", "maximize"}};
  d["scheduler"] = {{"type", "asha"}, {"max_resource", 20}, {"min_resource", 2}};
  const auto spec = parse_sweep_spec(d.dump(), "/tmp", "spec.json");
  EXPECT_EQ(spec.scheduler.type, "asha");
  EXPECT_EQ(spec.scheduler.metric, "val_acc");
  EXPECT_TRUE(spec.scheduler.maximize);
  EXPECT_EQ(spec.scheduler.max_resource, 20);
  EXPECT_EQ(spec.scheduler.min_resource, 2);
  EXPECT_EQ(spec.scheduler.reduction_factor, 3);
}

TEST(SweepSpec, RejectsABadScheduler) {
  auto d = valid();
  d["scheduler"] = {{"type", "hyperband"}};
  EXPECT_THAT(error_of(d), AllOf(HasSubstr("scheduler.type"), HasSubstr("hyperband"), HasSubstr("none, asha")));
  d["scheduler"] = {{"type", "asha"}};
  EXPECT_THAT(error_of(d), AllOf(HasSubstr("scheduler.max_resource"), HasSubstr("missing")));
  d["scheduler"] = {{"type", "asha"}, {"max_resource", 20}, {"reduction_factor", 1}};
  EXPECT_THAT(error_of(d), AllOf(HasSubstr("scheduler.reduction_factor"), HasSubstr("> 1")));
  d["scheduler"] = {{"type", "asha"}, {"max_resource", 20}, {"min_resource", 20}};
  EXPECT_THAT(error_of(d), AllOf(HasSubstr("scheduler.min_resource"), HasSubstr("below max_resource 20")));
  d["scheduler"] = {{"type", "asha"}, {"max_resource", 20}, {"eta", 3}};
  EXPECT_THAT(error_of(d), AllOf(HasSubstr("scheduler.eta"), HasSubstr("unknown field"), HasSubstr("reduction_factor")));
}

TEST(SweepSpec, RejectsBadSearchSpaceParameters) {
  auto d = valid();
  d["search_space"]["rank"]["type"] = "integer";
  EXPECT_THAT(error_of(d), AllOf(HasSubstr("search_space.rank.type"), HasSubstr("integer"), HasSubstr("float, int, categorical")));
  d = valid();
  d["search_space"]["learning_rate"]["low"] = 1.0;
  EXPECT_THAT(error_of(d), AllOf(HasSubstr("search_space.learning_rate.low"), HasSubstr("greater than high")));
  d = valid();
  d["search_space"]["learning_rate"]["low"] = 0;
  EXPECT_THAT(error_of(d), AllOf(HasSubstr("search_space.learning_rate.low"), HasSubstr("> 0 when log")));
  d = valid();
  d["search_space"]["method"]["values"] = nlohmann::json::array();
  EXPECT_THAT(error_of(d), AllOf(HasSubstr("search_space.method.values"), HasSubstr("at least one")));
  d = valid();
  d["search_space"]["rank"]["hgih"] = 3;
  EXPECT_THAT(error_of(d), AllOf(HasSubstr("search_space.rank.hgih"), HasSubstr("unknown field")));
}

TEST(SweepSpec, RejectsBadConditions) {
  auto d = valid();
  d["search_space"]["rank"]["condition"]["param"] = "metod";
  EXPECT_THAT(error_of(d), AllOf(HasSubstr("search_space.rank.condition.param"), HasSubstr("metod")));
  d = valid();
  d["search_space"]["rank"]["condition"] = {{"param", "learning_rate"}, {"in", {1}}};
  EXPECT_THAT(error_of(d), AllOf(HasSubstr("search_space.rank.condition.param"), HasSubstr("categorical")));
  d = valid();
  d["search_space"]["rank"]["condition"] = {{"param", "method"}, {"in", {"qlora"}}};
  EXPECT_THAT(error_of(d), AllOf(HasSubstr("search_space.rank.condition"), HasSubstr("qlora")));
}

TEST(SweepSpec, RejectsAFixedSettingThatIsAlsoSearched) {
  auto d = valid();
  d["fixed"]["learning_rate"] = 0.1;
  EXPECT_THAT(error_of(d), AllOf(HasSubstr("fixed.learning_rate"), HasSubstr("either fixed or searched")));
}

TEST(SweepSpec, LoadNamesAMissingFile) {
  try {
    load_sweep_spec("/nonexistent/spec.json");
    FAIL();
  } catch (const SpecError& e) {
    EXPECT_THAT(e.what(), HasSubstr("/nonexistent/spec.json"));
  }
}

}  // namespace
}  // namespace lorafarm::schema
