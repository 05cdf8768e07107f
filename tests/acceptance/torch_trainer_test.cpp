// examples/hf_lora_trainer.py against the engine, both as real processes
// (docs/external-trainers.md "The example PyTorch trainer"): the same batches
// in the same order, the quick-start LoRA run's final validation loss within
// 3 % of the engine's, its PEFT adapter scored alike by `lorafarm eval`, and
// its outputs in the Hugging Face Trainer's documented formats.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <future>
#include <sstream>

#include "acceptance/parallel_runs.h"
#include "acceptance/torch_trainer_support.h"
#include "test_support.h"

namespace lorafarm::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

#define REQUIRE_TORCH()                                                                                  \
  ASSERT_FALSE(torch_python().empty()) << "no python3 that imports torch: apt-get install python3-torch " \
                                          "(scripts/setup.sh), or set LORAFARM_PYTHON"

std::vector<std::string> with(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

// `lorafarm eval` of the validation split as training scores it (EOS, cut at 256).
double lorafarm_val_loss(const std::vector<std::string>& adapter_args) {
  auto args = with({"eval", "--model", bundled_model().string(), "--data", bundled_data("fortunes").string(), "--split",
                    "valid", "--max-seq-length", "256", "--add-eos", "--threads", "1", "--json"},
                   adapter_args);
  const ProcessResult r = run_lorafarm(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.exit_code == 0 ? json::parse(r.out)["loss"].get<double>() : NAN;
}

std::vector<json> with_key(const std::vector<json>& dicts, const std::string& key) {
  std::vector<json> out;
  for (const auto& d : dicts) {
    if (d.contains(key)) out.push_back(d);
  }
  return out;
}

json read_json(const fs::path& path) { return json::parse(read_file(path)); }

TEST(TorchTrainer, UnknownFlagsAndMissingUsePeftAreErrors) {
  REQUIRE_TORCH();
  ScratchDir dir;
  const auto base = hf_quickstart_args(dir / "out", 1, "1e-3");
  const ProcessResult unknown = run_torch_trainer(with(base, {"--num_layers", "4"}));
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("unrecognized arguments: --num_layers 4"), std::string::npos) << unknown.err;
  std::vector<std::string> no_peft;
  for (const auto& a : base) {
    if (a != "--use_peft") no_peft.push_back(a);
  }
  const ProcessResult lora_only = run_torch_trainer(no_peft);
  EXPECT_EQ(lora_only.exit_code, 2);
  EXPECT_NE(lora_only.err.find("pass --use_peft"), std::string::npos) << lora_only.err;
  const ProcessResult bad_module = run_torch_trainer(with(base, {"--lora_target_modules", "q_proj,attn"}));
  EXPECT_EQ(bad_module.exit_code, 2);
  EXPECT_NE(bad_module.err.find("unknown module(s) attn"), std::string::npos) << bad_module.err;
}

// The script's std::mt19937_64 against the value the C++ standard fixes
// ([rand.predef]: the 10000th draw of a default-constructed mt19937_64 is
// 9981545732273789042), and its tokenizer against the sentencepiece ids the
// bundled model's golden.json lists for its texts (BOS first).
TEST(TorchTrainer, GeneratorAndTokenizerMatchTheirReferences) {
  REQUIRE_TORCH();
  const std::string program =
      "import json, sys\n"
      "sys.path.insert(0, sys.argv[1])\n"
      "from torchtrainer.data import MersenneTwister64\n"
      "from torchtrainer.sp_tokenizer import SentencePieceBPE\n"
      "rng = MersenneTwister64(5489)\n"
      "draws = [rng() for _ in range(10000)]\n"
      "tok = SentencePieceBPE(sys.argv[2] + '/tokenizer.model')\n"
      "texts = json.loads(sys.stdin.read())\n"
      "print(json.dumps({'draw': str(draws[-1]), 'ids': [[1] + tok.encode(t) for t in texts]}))\n";
  const json golden = read_json(bundled_model() / "golden.json");
  json texts = json::array(), expected = json::array();
  for (const auto& c : golden["cases"]) {
    if (!c.contains("text") || c["text"].is_null()) continue;
    texts.push_back(c["text"]);
    expected.push_back(c["tokens"]);
  }
  ASSERT_EQ(texts.size(), 3u);
  const ProcessResult r = run_process({torch_python(), "-c", program, (source_dir() / "examples").string(),
                                       bundled_model().string()},
                                      texts.dump());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json out = json::parse(r.out);
  EXPECT_EQ(out["draw"], "9981545732273789042");
  EXPECT_EQ(out["ids"], expected);
}

// At a learning rate of 1e-10 neither trainer moves, so every step's training
// loss is the base model's loss on that step's batch: equal losses step by
// step mean equal tokens (BOS, EOS, truncation), equal batches and an equal
// epoch order (std::mt19937_64 in both). The final validation loss is then the
// base model's, which `lorafarm eval` computes with libsentencepiece.
TEST(TorchTrainer, SameBatchesInTheSameOrderAsTheEngineAndTheBaseModelsLoss) {
  REQUIRE_TORCH();
  ScratchDir dir;
  constexpr int kSteps = 20;
  auto script = std::async(std::launch::async, [&] {
    return run_torch_trainer(with(hf_quickstart_args(dir / "hf", kSteps, "1e-10"),
                                  {"--logging_steps", "1", "--save_strategy", "no"}));
  });
  const ProcessResult engine = run_lorafarm(with(engine_quickstart_args(dir / "engine", kSteps, "1e-10"),
                                                 {"--steps-per-report", "1", "--steps-per-eval", "100000"}));
  const ProcessResult hf = script.get();
  ASSERT_EQ(engine.exit_code, 0) << engine.err;
  ASSERT_EQ(hf.exit_code, 0) << hf.err;
  std::vector<double> engine_losses;
  std::stringstream lines(engine.out);
  for (std::string line; std::getline(lines, line);) {
    const json j = json::parse(line);
    if (j.contains("train_loss")) engine_losses.push_back(j["train_loss"].get<double>());
  }
  const auto logs = hf_log_dicts(hf.out);
  const auto steps = with_key(logs, "loss");
  ASSERT_EQ(steps.size(), static_cast<std::size_t>(kSteps)) << hf.out;
  ASSERT_EQ(engine_losses.size(), static_cast<std::size_t>(kSteps)) << engine.out;
  for (int i = 0; i < kSteps; ++i) {
    // The Trainer rounds "loss" to 4 decimals.
    EXPECT_NEAR(steps[i]["loss"].get<double>(), engine_losses[i], 5.1e-5) << "step " << i + 1;
  }
  const double base = lorafarm_val_loss({});
  const double script_final = with_key(logs, "eval_loss").back()["eval_loss"].get<double>();
  EXPECT_NEAR(script_final / base, 1.0, 1e-5) << "script " << script_final << ", lorafarm eval " << base;
}

// A small prompt/completion data set: `train` records in train.jsonl, 4 in valid.jsonl.
fs::path write_prompt_completion_data(const ScratchDir& dir, int train) {
  const fs::path data = dir / "data";
  fs::create_directories(data);
  const char* animals[] = {"cat", "dog", "owl", "fox", "bee", "cow"};
  auto records = [&](int count, int offset) {
    std::string text;
    for (int i = 0; i < count; ++i) {
      const std::string animal = animals[(i + offset) % 6];
      const std::string day = std::to_string(i + offset);
      const json record = {{"prompt", "Q: what did the " + animal + " see on day " + day + "?\n"},
                           {"completion", "A: the " + animal + " saw " + std::string(i % 4 + 1, 'x') + " trees."}};
      text += record.dump() + "\n";
    }
    return text;
  };
  write_file(data / "train.jsonl", records(train, 0));
  write_file(data / "valid.jsonl", records(4, 100));
  return data;
}

// --completion_only_loss against the engine's --mask-prompt: at a learning
// rate of 1e-10 every step's loss (one batch, token mean over the completion
// tokens) and the final validation loss must agree, so the two trainers mask
// the same tokens.
TEST(TorchTrainer, CompletionOnlyLossMasksWhatTheEnginesMaskPromptMasks) {
  REQUIRE_TORCH();
  ScratchDir dir;
  const fs::path data = write_prompt_completion_data(dir, 12);
  const ProcessResult hf = run_torch_trainer(with(hf_quickstart_args(dir / "hf", 8, "1e-10", data, 2),
                                                  {"--logging_steps", "1", "--save_strategy", "no",
                                                   "--completion_only_loss"}));
  const ProcessResult engine = run_lorafarm(with(engine_quickstart_args(dir / "engine", 8, "1e-10", data, 2),
                                                 {"--steps-per-report", "1", "--steps-per-eval", "100000",
                                                  "--mask-prompt"}));
  ASSERT_EQ(hf.exit_code, 0) << hf.err;
  ASSERT_EQ(engine.exit_code, 0) << engine.err;
  std::vector<double> engine_losses;
  std::stringstream lines(engine.out);
  for (std::string line; std::getline(lines, line);) {
    const json j = json::parse(line);
    if (j.contains("train_loss")) engine_losses.push_back(j["train_loss"].get<double>());
  }
  const auto logs = hf_log_dicts(hf.out);
  const auto steps = with_key(logs, "loss");
  ASSERT_EQ(steps.size(), 8u) << hf.out;
  ASSERT_EQ(engine_losses.size(), 8u) << engine.out;
  for (std::size_t i = 0; i < steps.size(); ++i) EXPECT_NEAR(steps[i]["loss"].get<double>(), engine_losses[i], 5.1e-5);
  const double engine_val = last_json_line(engine.out)["val_loss"].get<double>();
  EXPECT_NEAR(with_key(logs, "eval_loss").back()["eval_loss"].get<double>() / engine_val, 1.0, 1e-5);
}

// The learning rates the Trainer logs (the scheduler's rate after each step,
// transformers' get_scheduler lambdas) and the fractional epoch with
// gradient accumulation, derived by hand: 12 samples in batches of 2 are 6
// batches an epoch, 2 per step, so step k ends at epoch k/3.
TEST(TorchTrainer, LoggedLearningRatesAndEpochsFollowTheTrainersSchedules) {
  REQUIRE_TORCH();
  ScratchDir dir;
  const fs::path data = write_prompt_completion_data(dir, 12);
  // The later flags override the quick-start's (argparse keeps the last value, as HfArgumentParser does).
  auto run = [&](const std::string& schedule, int steps, int warmup) {
    const ProcessResult r = run_torch_trainer(
        with(hf_quickstart_args(dir / schedule, steps, "1e-3", data, 2),
             {"--gradient_accumulation_steps", "2", "--lr_scheduler_type", schedule, "--warmup_steps",
              std::to_string(warmup), "--logging_steps", "1", "--save_strategy", "no"}));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return with_key(hf_log_dicts(r.out), "loss");
  };
  // linear, warm-up 2 of 10: k/2 during the warm-up, then 1 - (k - 2)/8.
  const std::vector<double> linear = {5e-4, 1e-3, 8.75e-4, 7.5e-4, 6.25e-4, 5e-4, 3.75e-4, 2.5e-4, 1.25e-4, 0.0};
  const auto linear_logs = run("linear", 10, 2);
  ASSERT_EQ(linear_logs.size(), linear.size());
  for (std::size_t k = 0; k < linear.size(); ++k) {
    EXPECT_NEAR(linear_logs[k]["learning_rate"].get<double>(), linear[k], 1e-12) << "step " << k + 1;
    EXPECT_NEAR(linear_logs[k]["epoch"].get<double>(), std::round((k + 1) / 3.0 * 100) / 100, 1e-12);
  }
  // cosine without warm-up over 4 steps: (1 + cos(pi k / 4)) / 2.
  const std::vector<double> cosine = {8.535533905932737e-4, 5e-4, 1.4644660940672624e-4, 0.0};
  const auto cosine_logs = run("cosine", 4, 0);
  ASSERT_EQ(cosine_logs.size(), cosine.size());
  for (std::size_t k = 0; k < cosine.size(); ++k)
    EXPECT_NEAR(cosine_logs[k]["learning_rate"].get<double>(), cosine[k], 1e-12) << "step " << k + 1;
}

// The checks of the printed dicts and trainer_state.json against the
// transformers sources cited in docs/external-trainers.md.
void expect_hf_formats(const std::vector<json>& logs, const fs::path& out, int steps, int logging, int eval) {
  const auto train_logs = with_key(logs, "loss");
  ASSERT_EQ(train_logs.size(), static_cast<std::size_t>(steps / logging));
  for (const auto& d : train_logs) {
    EXPECT_EQ(d.size(), 4u) << d;  // loss, grad_norm, learning_rate, epoch
    EXPECT_TRUE(d.contains("grad_norm") && d.contains("learning_rate") && d.contains("epoch")) << d;
    const double loss = d["loss"].get<double>();
    EXPECT_NEAR(loss, std::round(loss * 1e4) / 1e4, 1e-12) << "loss is rounded to 4 decimals";
    const double epoch = d["epoch"].get<double>();
    EXPECT_NEAR(epoch, std::round(epoch * 100) / 100, 1e-12) << "the printed epoch is rounded to 2 decimals";
  }
  const auto evals = with_key(logs, "eval_loss");
  ASSERT_EQ(evals.size(), static_cast<std::size_t>(steps / eval + 1));  // periodic + the final whole split
  for (const char* key : {"eval_runtime", "eval_samples_per_second", "eval_steps_per_second", "epoch"})
    EXPECT_TRUE(evals.back().contains(key)) << key;
  const auto summary = with_key(logs, "train_runtime");
  ASSERT_EQ(summary.size(), 1u);
  for (const char* key : {"train_samples_per_second", "train_steps_per_second", "train_loss", "epoch"})
    EXPECT_TRUE(summary[0].contains(key)) << key;
  EXPECT_FALSE(summary[0].contains("total_flos")) << "ProgressCallback.on_log drops total_flos";

  const json state = read_json(out / "trainer_state.json");
  EXPECT_EQ(state["global_step"], steps);
  EXPECT_EQ(state["max_steps"], steps);
  EXPECT_EQ(state["log_history"].size(), logs.size());
  for (const auto& entry : state["log_history"]) {
    EXPECT_TRUE(entry.contains("step") && entry.contains("epoch")) << entry;
  }
  EXPECT_TRUE(state["log_history"].back().contains("eval_loss"));
  EXPECT_TRUE(state["log_history"][steps / logging + steps / eval].contains("total_flos")) << "kept in log_history";
  for (const char* key : {"best_metric", "best_model_checkpoint", "epoch", "logging_steps", "eval_steps", "save_steps",
                          "total_flos", "train_batch_size", "num_train_epochs", "is_world_process_zero"})
    EXPECT_TRUE(state.contains(key)) << key;
}

// The adapter in PEFT's layout loads in `lorafarm eval --adapter` and scores
// the validation split as the script scored it; its checkpoints too.
TEST(TorchTrainer, PeftAdapterScoresTheScriptsValLossInLorafarmEvalAndOutputsFollowHfFormats) {
  REQUIRE_TORCH();
  ScratchDir dir;
  const fs::path out = dir / "hf";
  const ProcessResult hf = run_torch_trainer(
      with(hf_quickstart_args(out, 20, "1e-3"), {"--logging_steps", "5", "--eval_strategy", "steps", "--eval_steps",
                                                 "10", "--val_batches", "2", "--save_steps", "10",
                                                 "--metric_for_best_model", "eval_loss"}));
  ASSERT_EQ(hf.exit_code, 0) << hf.err;
  const auto logs = hf_log_dicts(hf.out);
  expect_hf_formats(logs, out, 20, 5, 10);

  const double script_val = with_key(logs, "eval_loss").back()["eval_loss"].get<double>();
  const double lorafarm_val = lorafarm_val_loss({"--adapter", out.string()});
  EXPECT_NEAR(lorafarm_val / script_val, 1.0, 1e-5) << "script " << script_val << ", lorafarm eval " << lorafarm_val;
  EXPECT_LT(script_val, lorafarm_val_loss({}) - 0.5) << "20 steps at 1e-3 move well below the base model";

  const json config = read_json(out / "adapter_config.json");
  EXPECT_EQ(config["peft_type"], "LORA");
  EXPECT_EQ(config["r"], 8);
  EXPECT_EQ(config["lora_alpha"].get<double>(), 160.0);
  const json state = read_json(out / "trainer_state.json");
  const auto periodic = with_key(state["log_history"].get<std::vector<json>>(), "eval_loss");
  const double best = std::min(periodic[0]["eval_loss"].get<double>(), periodic[1]["eval_loss"].get<double>());
  EXPECT_EQ(state["best_metric"].get<double>(), best);
  const std::string best_checkpoint = "checkpoint-" + std::to_string(state["best_global_step"].get<int>());
  EXPECT_EQ(state["best_model_checkpoint"], (out / best_checkpoint).string());
  for (const char* checkpoint : {"checkpoint-10", "checkpoint-20"}) {
    EXPECT_TRUE(fs::exists(out / checkpoint / "trainer_state.json")) << checkpoint;
    EXPECT_FALSE(std::isnan(lorafarm_val_loss({"--adapter", (out / checkpoint).string()}))) << checkpoint;
  }
  EXPECT_NEAR(lorafarm_val_loss({"--adapter", (out / "checkpoint-20").string()}), lorafarm_val, 1e-12);
  EXPECT_EQ(read_json(out / "checkpoint-10" / "trainer_state.json")["global_step"], 10);
}

// The cross-check of the engine by an independent implementation: the
// quick-start LoRA configuration at full size (100 steps), final validation
// loss over the whole split within 3 % (measured: docs/external-trainers.md).
TEST(AcceptanceTorchTrainer, QuickstartLoraFinalValLossWithinThreePercentOfTheEngine) {
  REQUIRE_TORCH();
  ScratchDir dir;
  constexpr int kSteps = 100;
  auto script = std::async(std::launch::async, [&] {
    return run_torch_trainer(with(hf_quickstart_args(dir / "hf", kSteps, "1e-3"),
                                  {"--logging_steps", "10", "--eval_strategy", "steps", "--eval_steps", "50",
                                   "--val_batches", "10", "--save_steps", "50"}));
  });
  const ProcessResult engine = run_lorafarm(with(engine_quickstart_args(dir / "engine", kSteps, "1e-3"),
                                                 {"--steps-per-report", "10", "--steps-per-eval", "50",
                                                  "--val-batches", "10"}));
  const ProcessResult hf = script.get();
  ASSERT_EQ(engine.exit_code, 0) << engine.err;
  ASSERT_EQ(hf.exit_code, 0) << hf.err;
  const double engine_val = last_json_line(engine.out)["val_loss"].get<double>();
  const auto logs = hf_log_dicts(hf.out);
  const double script_val = with_key(logs, "eval_loss").back()["eval_loss"].get<double>();
  std::printf("quick-start LoRA, 100 steps, final val loss: engine %.5f, PyTorch script %.5f (%+.2f %%)\n",
              engine_val, script_val, 100 * (script_val / engine_val - 1));
  EXPECT_LE(std::abs(script_val / engine_val - 1.0), 0.03) << "engine " << engine_val << ", script " << script_val;
  EXPECT_LT(engine_val, 4.48 - 1.0) << "both runs must have learned (base model: 4.48)";
  EXPECT_EQ(read_json(dir / "hf" / "trainer_state.json")["global_step"], kSteps);
}

}  // namespace
}  // namespace lorafarm::testing
