// Preset trials in the sweep spec: the errors a user can make (each naming its
// field), the expansion each preset gives (mlx-lm YAML read back by PyYAML,
// Trainer flags), and the user's overrides.
#include "schema/trial_preset.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "schema/error.h"
#include "schema/sweep_spec.h"
#include "schema/yaml_text.h"
#include "test_support.h"

namespace lorafarm::schema {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

json base_spec(const json& trial) {
  return {{"name", "p"},
          {"model", "org/model"},
          {"data", "org/data"},
          {"budget", {{"trials", 2}}},
          {"search_space", {{"learning_rate", {{"type", "float"}, {"low", 1e-5}, {"high", 1e-3}, {"log", true}}}}},
          {"fixed", {{"rank", 8}, {"alpha", 16}, {"iters", 100}}},
          {"trial", trial}};
}

SweepSpec parse(const json& spec) { return parse_sweep_spec(spec.dump(), "/tmp", "spec.json"); }

std::string error_of(const json& spec) {
  try {
    parse(spec);
  } catch (const SpecError& e) {
    return e.what();
  }
  return "(accepted)";
}

json trial_values(const SweepSpec& spec, const json& params) {
  json values = spec.fixed;
  for (const auto& [k, v] : params.items()) values[k] = v;
  values["seed"] = 7;
  values["trial_dir"] = "/w/t";
  return values;
}

PresetRun expand(const SweepSpec& spec, const json& params) {
  return expand_preset(*spec.trial.preset, trial_values(spec, params), [](std::string_view s) {
    std::string out(s);
    if (const auto at = out.find("{trial_dir}"); at != std::string::npos) out.replace(at, 11, "/w/t");
    return out;
  });
}

// The YAML as PyYAML's safe_load reads it (mlx-lm reads its config with
// PyYAML).
json read_back_with_pyyaml(const std::string& yaml) {
  testing::ScratchDir dir;
  testing::write_file(dir / "c.yaml", yaml);
  const auto r = testing::run_process({"/usr/bin/env", "python3", "-c",
                                       "import json,sys,yaml; "
                                       "print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
                                       (dir / "c.yaml").string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return json::parse(r.out);
}

TEST(TrialPreset, MlxLmWritesMlxLmsConfigKeysThatPyYamlReadsBackWithTheirTypes) {
  const json schedule{{"name", "cosine_decay"}, {"arguments", {1e-5, 100, 1e-7}}};
  const auto spec = parse(base_spec({{"kind", "mlx_lm"}, {"config", {{"lr_schedule", schedule}}}}));
  const auto run = expand(spec, {{"learning_rate", 1e-5}});
  EXPECT_EQ(run.argv, (std::vector<std::string>{"mlx_lm.lora", "--config", "/w/t/mlx_lm_config.yaml"}));
  ASSERT_EQ(run.files.size(), 1u);
  EXPECT_EQ(run.files[0].name, "mlx_lm_config.yaml");
  const json c = read_back_with_pyyaml(run.files[0].text);
  EXPECT_EQ(c["model"], "org/model");
  EXPECT_EQ(c["data"], "org/data");
  EXPECT_EQ(c["train"], true);
  EXPECT_EQ(c["seed"], 7);
  EXPECT_EQ(c["iters"], 100);
  EXPECT_EQ(c["adapter_path"], "/w/t/artifacts/adapters");
  ASSERT_TRUE(c["learning_rate"].is_number_float()) << run.files[0].text;
  EXPECT_DOUBLE_EQ(c["learning_rate"].get<double>(), 1e-5);
  EXPECT_EQ(c["lora_parameters"]["rank"], 8);
  EXPECT_DOUBLE_EQ(c["lora_parameters"]["scale"].get<double>(), 2.0);
  EXPECT_TRUE(c["lr_schedule"]["arguments"][2].is_number_float());
  EXPECT_DOUBLE_EQ(c["lr_schedule"]["arguments"][2].get<double>(), 1e-7);
}

TEST(TrialPreset, YamlStringsSurviveQuotesBackslashesAndYamlWords) {
  const json value{{"a", "it's \"quoted\" \\ and: colon # not a comment"},
                   {"yes", "no"},
                   {"n", nullptr},
                   {"list", {"on", 1.5, true}},
                   {"e", json::object()}};
  EXPECT_EQ(read_back_with_pyyaml(yaml_text(value)), value);
}

TEST(TrialPreset, UserConfigFlagsAndProgramOverrideTheMlxLmPreset) {
  auto s = base_spec({{"kind", "mlx_lm"},
                      {"program", {"python3", "-m", "mlx_lm", "lora"}},
                      {"config", {{"adapter_path", "{trial_dir}/artifacts/adapters"}, {"train", nullptr}}},
                      {"param_keys", {{"alpha", nullptr}}},
                      {"flags", {{"--test", true}, {"--grad-checkpoint", false}}}});
  const auto run = expand(parse(s), {{"learning_rate", 1e-4}});
  EXPECT_EQ(run.argv, (std::vector<std::string>{"python3", "-m", "mlx_lm", "lora", "--config",
                                                "/w/t/mlx_lm_config.yaml", "--test"}));
  const json c = read_back_with_pyyaml(run.files[0].text);
  EXPECT_EQ(c["adapter_path"], "/w/t/artifacts/adapters");
  EXPECT_FALSE(c.contains("train")) << "null removes a key";
  EXPECT_FALSE(c["lora_parameters"].contains("scale")) << "alpha mapped to null goes nowhere";
}

TEST(TrialPreset, HfTrainerAppendsTrainingArgumentsAndModelConfigFlags) {
  auto s = base_spec(
      {{"kind", "hf_trainer"}, {"command", {"trl", "sft"}}, {"flags", {{"--bf16", true}, {"--seed", nullptr}}}});
  s["fixed"] = {{"rank", 16},      {"scale", 2.0},     {"fine_tune_type", "dora"},
                {"max_steps", 50}, {"eval_steps", 10}, {"lora_target_modules", {"q_proj", "v_proj"}}};
  const auto spec = parse(s);
  const auto run = expand(spec, {{"learning_rate", 2e-4}});
  const std::vector<std::string> expected{"trl",
                                          "sft",
                                          "--output_dir",
                                          "/w/t/artifacts/output",
                                          "--model_name_or_path",
                                          "org/model",
                                          "--dataset_name",
                                          "org/data",
                                          "--eval_steps",
                                          "10",
                                          "--use_peft",
                                          "--use_dora",
                                          "--learning_rate",
                                          "0.0002",
                                          "--lora_target_modules",
                                          "q_proj",
                                          "v_proj",
                                          "--max_steps",
                                          "50",
                                          "--lora_r",
                                          "16",
                                          "--lora_alpha",
                                          "32",
                                          "--eval_strategy",
                                          "steps",
                                          "--bf16"};
  EXPECT_EQ(run.argv, expected);
  EXPECT_TRUE(run.files.empty());
  EXPECT_EQ(spec.scheduler.type, "none");
}

TEST(TrialPreset, AshaTakesItsBudgetFromThePresetsStepCount) {
  auto s = base_spec({{"kind", "hf_trainer"}, {"command", {"python3", "train.py"}}});
  s["fixed"]["max_steps"] = 300;
  s["fixed"].erase("iters");
  s["scheduler"] = {{"type", "asha"}, {"min_resource", 50}};
  EXPECT_DOUBLE_EQ(parse(s).scheduler.max_resource, 300);
  auto m = base_spec({{"kind", "mlx_lm"}});
  m["scheduler"] = {{"type", "asha"}, {"min_resource", 10}};
  EXPECT_DOUBLE_EQ(parse(m).scheduler.max_resource, 100);
}

TEST(TrialPreset, PresetCollectorsAreExtendedOrReplacedByTrialMetrics) {
  auto s = base_spec({{"kind", "mlx_lm"},
                      {"metrics",
                       {{"collectors", {{{"source", "stderr"}, {"regex", "acc (?<accuracy>[0-9.]+)"}}}},
                        {"final", {{"val_loss", "best"}}}}}});
  auto spec = parse(s);
  ASSERT_TRUE(spec.trial.metrics);
  EXPECT_EQ(spec.trial.metrics->collectors.size(), 9u) << "8 of the preset's and the user's";
  EXPECT_EQ(spec.trial.metrics->rule("val_loss"), FinalRule::Min);
  s["trial"]["metrics"]["replace"] = true;
  EXPECT_THAT(error_of(s), HasSubstr("no collector yields 'val_loss'")) << "the objective must still be collected";
  s["trial"]["metrics"]["collectors"][0]["regex"] = "loss (?<val_loss>[0-9.]+)";
  spec = parse(s);
  EXPECT_EQ(spec.trial.metrics->collectors.size(), 1u);
}

TEST(TrialPreset, MistakesNameTheirField) {
  EXPECT_THAT(error_of(base_spec({{"kind", "mlx_lm"}, {"command", {"x"}}})),
              HasSubstr("spec.json: trial.command: unknown field; allowed: "
                        "config, env, flags"));
  EXPECT_THAT(error_of(base_spec({{"kind", "hf_trainer"}})),
              HasSubstr("trial.command: missing; the training script's command"));
  EXPECT_THAT(error_of(base_spec({{"kind", "hf_trainer"}, {"command", "python3 train.py"}})),
              HasSubstr("trial.command: must be a non-empty array of strings"));
  EXPECT_THAT(error_of(base_spec({{"kind", "mlx"}})), HasSubstr("trial.kind: \"mlx\" is not allowed; allowed: engine, "
                                                                "command, mlx_lm, hf_trainer"));
  auto unknown = base_spec({{"kind", "mlx_lm"}});
  unknown["fixed"]["learning_rte"] = 1;
  EXPECT_THAT(error_of(unknown), HasSubstr("fixed.learning_rte: the mlx_lm preset has no place "
                                           "for 'learning_rte'"));
  auto no_rank = base_spec({{"kind", "mlx_lm"}});
  no_rank["fixed"].erase("rank");
  EXPECT_THAT(error_of(no_rank), HasSubstr("'alpha' is converted with the LoRA rank (scale = alpha / rank)"));
  auto twice = base_spec({{"kind", "mlx_lm"}});
  twice["fixed"]["scale"] = 20;
  EXPECT_THAT(error_of(twice), HasSubstr("'alpha' and 'scale' both set lora_parameters.scale"));
  EXPECT_THAT(error_of(base_spec({{"kind", "mlx_lm"}, {"param_keys", {{"rank", "lora parameters"}}}})),
              HasSubstr("trial.param_keys.rank: must be a YAML key path"));
  EXPECT_THAT(error_of(base_spec({{"kind", "mlx_lm"}, {"param_keys", {{"depth", "x"}}}})),
              HasSubstr("trial.param_keys.depth: 'depth' is not a search_space parameter"));
  EXPECT_THAT(error_of(base_spec({{"kind", "hf_trainer"}, {"command", {"t"}}, {"param_flags", {{"rank", "lora_r"}}}})),
              HasSubstr("trial.param_flags.rank: must be a flag"));
  EXPECT_THAT(error_of(base_spec({{"kind", "hf_trainer"}, {"command", {"t"}}, {"flags", {{"bf16", true}}}})),
              HasSubstr("trial.flags.bf16: a flag starts with '-'"));
  EXPECT_THAT(error_of(base_spec({{"kind", "hf_trainer"}, {"command", {"t"}}, {"flags", {{"--x", {{"a", 1}}}}}})),
              HasSubstr("trial.flags.--x: must be a string"));
  EXPECT_THAT(error_of(base_spec({{"kind", "hf_trainer"}, {"command", {"t", "--out={outdir}"}}})),
              HasSubstr("trial.command[1]: placeholder {outdir} is not a parameter"));
  EXPECT_THAT(error_of(base_spec({{"kind", "mlx_lm"}, {"stop_grace_seconds", -1}})),
              HasSubstr("trial.stop_grace_seconds: must be a number >= 0"));
  EXPECT_THAT(error_of(base_spec({{"kind", "mlx_lm"}, {"metrics", {{"replace", true}}}})),
              HasSubstr("trial.metrics.collectors: missing"));
  auto bad_type = base_spec({{"kind", "mlx_lm"}});
  bad_type["fixed"]["fine_tune_type"] = "qlora";
  EXPECT_THAT(error_of(bad_type), HasSubstr("fixed.fine_tune_type: \"qlora\" is not allowed; "
                                            "allowed: lora, dora, full"));
}

TEST(TrialPreset, ParametersUsedOnlyAsPlaceholdersNeedNoPlace) {
  auto s = base_spec({{"kind", "hf_trainer"}, {"command", {"python3", "train.py", "--tag", "{label}"}}});
  s["fixed"]["label"] = "run";
  const auto spec = parse(s);
  EXPECT_EQ(spec.trial.preset->targets.at("label").to, "");
  EXPECT_EQ(spec.trial.stop_grace_seconds, TrialSpec::kDefaultStopGraceSeconds);
}

TEST(TrialPreset, TheWireFormRoundTrips) {
  auto s = base_spec({{"kind", "hf_trainer"}, {"command", {"python3", "t.py"}}, {"flags", {{"--bf16", true}}}});
  const auto spec = parse(s);
  const auto& preset = *spec.trial.preset;
  EXPECT_EQ(TrialPreset::from_json(preset.to_json()).to_json(), preset.to_json());
}

}  // namespace
}  // namespace lorafarm::schema
