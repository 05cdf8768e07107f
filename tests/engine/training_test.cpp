// AdamW, schedules, data sets, the training loop (determinism, the loss
// falls), adapter round trips in both layouts, fuse, and the CLI's answers
// to bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <limits>
#include <random>
#include <sstream>

#include "engine/adapter_io.h"
#include "engine/batch_order.h"
#include "engine/dataset.h"
#include "engine/error.h"
#include "engine/evaluate.h"
#include "engine/fuse.h"
#include "engine/lr_schedule.h"
#include "engine/optimizer.h"
#include "engine/trainer.h"
#include "test_support.h"

namespace lorafarm::engine {
namespace {

using lorafarm::testing::ScratchDir;
using lorafarm::testing::bundled_data;
using lorafarm::testing::bundled_model;
using lorafarm::testing::run_lorafarm;
using lorafarm::testing::write_file;

TEST(AdamW, FirstStepWithBiasCorrectionMovesByTheLearningRate) {
  std::vector<float> value = {1.0f, -2.0f, 0.5f};
  std::vector<float> grad = {0.3f, -0.001f, 2.0f};
  std::vector<ParamRef> params = {{"p", {3}, value.data(), grad.data(), 3}};
  AdamW opt(params, {});
  opt.step(params, 0.1);
  // m̂ = g, v̂ = g², so the update is lr·g/(|g| + ε) ≈ lr·sign(g).
  EXPECT_NEAR(value[0], 0.9f, 1e-6);
  EXPECT_NEAR(value[1], -1.9f, 1e-5);
  EXPECT_NEAR(value[2], 0.4f, 1e-6);
  // Second step with the same gradient: m = g(1−β1²)… still lr·sign(g) after correction.
  opt.step(params, 0.1);
  EXPECT_NEAR(value[0], 0.8f, 1e-5);
}

TEST(AdamW, WithoutBiasCorrectionTheFirstStepIsSmaller) {
  std::vector<float> value = {1.0f};
  std::vector<float> grad = {0.5f};
  std::vector<ParamRef> params = {{"p", {1}, value.data(), grad.data(), 1}};
  AdamWOptions o;
  o.bias_correction = false;
  AdamW opt(params, o);
  opt.step(params, 0.1);
  // m = 0.05, v = 0.00025: step = 0.1·0.05/0.01581 = 0.3162.
  EXPECT_NEAR(value[0], 1.0f - 0.1f * 0.05f / std::sqrt(0.00025f), 1e-5);
}

TEST(AdamW, DecoupledWeightDecay) {
  std::vector<float> value = {2.0f};
  std::vector<float> grad = {0.0f};
  std::vector<ParamRef> params = {{"p", {1}, value.data(), grad.data(), 1}};
  AdamWOptions o;
  o.weight_decay = 0.1;
  AdamW opt(params, o);
  opt.step(params, 0.5);
  EXPECT_NEAR(value[0], 2.0f - 0.5f * 0.1f * 2.0f, 1e-6);
}

TEST(AdamW, LongParametersMatchAFloat64Reference) {
  // 4096·2 + 7 entries: the threaded vector blocks and a scalar tail.
  constexpr int n = 4096 * 2 + 7, steps = 3;
  constexpr double lr = 0.01, decay = 0.1, b1 = 0.9, b2 = 0.999, eps = 1e-8;
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> value(n), grad(n);
  for (float& x : value) x = u(rng);
  std::vector<double> want(value.begin(), value.end()), m(n, 0.0), v(n, 0.0);
  std::vector<ParamRef> params = {{"p", {n}, value.data(), grad.data(), n}};
  AdamWOptions o;
  o.weight_decay = decay;
  AdamW opt(params, o);
  for (int t = 1; t <= steps; ++t) {
    for (float& g : grad) g = u(rng);
    opt.step(params, lr);
    for (int j = 0; j < n; ++j) {
      m[j] = b1 * m[j] + (1 - b1) * grad[j];
      v[j] = b2 * v[j] + (1 - b2) * double(grad[j]) * grad[j];
      const double m_hat = m[j] / (1 - std::pow(b1, t)), v_hat = v[j] / (1 - std::pow(b2, t));
      want[j] -= lr * m_hat / (std::sqrt(v_hat) + eps) + lr * decay * want[j];
    }
  }
  // Each step rounds |value| <= 1 and an update of at most lr·t (|m̂|/√v̂ <= t)
  // through about eight float operations: 8·ε of each per step.
  const double tolerance = steps * 8 * std::numeric_limits<float>::epsilon() * (1.0 + lr * steps);
  double worst = 0;
  for (int j = 0; j < n; ++j) worst = std::max(worst, std::abs(double(value[j]) - want[j]));
  EXPECT_LT(worst, tolerance);
  EXPECT_GT(worst, 0.0);  // float32 arithmetic really ran (the reference is float64)
}

TEST(ClipGradNorm, ScalesToTheMaximumGlobalNorm) {
  std::vector<float> a = {3.0f}, b = {4.0f}, va = {0.0f}, vb = {0.0f};
  std::vector<ParamRef> params = {{"a", {1}, va.data(), a.data(), 1}, {"b", {1}, vb.data(), b.data(), 1}};
  EXPECT_DOUBLE_EQ(clip_grad_norm(params, 1.0), 5.0);
  EXPECT_NEAR(a[0], 0.6f, 1e-5);
  EXPECT_NEAR(b[0], 0.8f, 1e-5);
  EXPECT_NEAR(clip_grad_norm(params, 10.0), 1.0, 1e-5);  // below the limit: unchanged
  EXPECT_NEAR(a[0], 0.6f, 1e-5);
}

TEST(LrSchedule, WarmupThenCosineAndLinearDecay) {
  LrSchedule s = LrSchedule::from_json({{"name", "cosine"}, {"warmup", 10}, {"end", 1e-5}}, 1e-3);
  EXPECT_NEAR(s.at(0, 110), 1e-4, 1e-12);
  EXPECT_NEAR(s.at(9, 110), 1e-3, 1e-12);
  EXPECT_NEAR(s.at(10, 110), 1e-3, 1e-12);
  EXPECT_NEAR(s.at(60, 110), (1e-3 + 1e-5) / 2, 1e-12);
  EXPECT_NEAR(s.at(110, 110), 1e-5, 1e-12);
  LrSchedule l = LrSchedule::from_json({{"name", "linear_schedule"}, {"arguments", {1e-3, 100, 0.0}}}, 5.0);
  EXPECT_NEAR(l.peak, 1e-3, 1e-15);
  EXPECT_NEAR(l.at(50, 100), 5e-4, 1e-12);
  EXPECT_NEAR(LrSchedule::from_json(nullptr, 2e-4).at(77, 100), 2e-4, 1e-15);
  EXPECT_THROW(LrSchedule::from_json({{"name", "exp"}}, 1e-3), InvalidInput);
}

// A small copy of the fortunes set (first lines of each split).
void write_small_data(const std::filesystem::path& dir, int train, int valid) {
  std::filesystem::create_directories(dir);
  for (const auto& [split, count] : {std::pair{"train", train}, {"valid", valid}, {"test", valid}}) {
    std::ifstream in(bundled_data("fortunes") / (std::string(split) + ".jsonl"));
    std::ofstream out(dir / (std::string(split) + ".jsonl"));
    std::string line;
    for (int i = 0; i < count && std::getline(in, line); ++i) out << line << "\n";
  }
}

TEST(Dataset, ReadsTextPromptCompletionAndMessagesWithMaskAndTruncation) {
  ScratchDir dir;
  write_file(dir / "train.jsonl",
             R"({"text": "Once upon a time"})"
             "\n"
             R"({"prompt": "Q: sun?", "completion": " A: hot."})"
             "\n"
             R"({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello there"}]})"
             "\n");
  const auto tokenizer = load_tokenizer(bundled_model());
  DataOptions options;
  options.mask_prompt = true;
  const auto samples = load_split(dir.path(), "train", *tokenizer, options);
  ASSERT_EQ(samples.size(), 3u);
  const auto once = tokenizer->encode("Once upon a time");
  EXPECT_EQ(samples[0].tokens.front(), *tokenizer->bos_id());
  EXPECT_EQ(samples[0].tokens.back(), *tokenizer->eos_id());
  EXPECT_EQ(samples[0].tokens.size(), once.size() + 2);
  EXPECT_EQ(samples[0].prompt_tokens, 0);
  EXPECT_EQ(samples[1].prompt_tokens, 1 + static_cast<int>(tokenizer->encode("Q: sun?").size()));
  const std::string chat_prompt =
      default_chat_format()->render(nlohmann::ordered_json::array({{{"role", "user"}, {"content", "Hi"}}}), true);
  EXPECT_EQ(chat_prompt, "### User:\nHi\n\n### Assistant:\n");
  EXPECT_EQ(samples[2].prompt_tokens, 1 + static_cast<int>(tokenizer->encode(chat_prompt).size()));

  // Batch: targets shifted by one, padding and the prompt carry no loss.
  const std::vector<std::size_t> idx = {0, 1};
  const TrainBatch b = make_batch(samples, idx);
  EXPECT_EQ(b.length, static_cast<int>(std::max(samples[0].tokens.size(), samples[1].tokens.size())) - 1);
  for (int t = 0; t + 1 < static_cast<int>(samples[1].tokens.size()); ++t) {
    const auto r = static_cast<std::size_t>(b.length + t);
    EXPECT_EQ(b.inputs[r], samples[1].tokens[static_cast<std::size_t>(t)]);
    EXPECT_EQ(b.targets[r], samples[1].tokens[static_cast<std::size_t>(t) + 1]);
    EXPECT_EQ(b.weights[r], t + 1 >= samples[1].prompt_tokens ? 1.0f : 0.0f) << t;
  }
  for (int t = static_cast<int>(samples[0].tokens.size()) - 1; t < b.length; ++t) {
    EXPECT_EQ(b.weights[static_cast<std::size_t>(t)], 0.0f);
  }

  options.max_seq_length = 4;
  options.mask_prompt = false;
  for (const Sample& s : load_split(dir.path(), "train", *tokenizer, options)) EXPECT_EQ(s.tokens.size(), 4u);
}

TEST(Dataset, EmptySetAndAllMaskedSampleAreErrors) {
  ScratchDir dir;
  const auto tokenizer = load_tokenizer(bundled_model());
  write_file(dir / "train.jsonl", "\n");
  EXPECT_THROW(load_split(dir.path(), "train", *tokenizer, {}), InvalidInput);
  write_file(dir / "train.jsonl", R"({"prompt": "a long prompt that fills everything", "completion": " x"})" "\n");
  DataOptions options;
  options.mask_prompt = true;
  options.max_seq_length = 5;
  try {
    load_split(dir.path(), "train", *tokenizer, options);
    FAIL() << "expected an error";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("train.jsonl:1: no token carries loss"), std::string::npos) << e.what();
  }
  write_file(dir / "train.jsonl", R"({"content": "x"})" "\n");
  EXPECT_THROW(load_split(dir.path(), "train", *tokenizer, {}), InvalidInput);
}

TEST(Dataset, LengthSortedBatchesAndSeededEpochOrder) {
  std::vector<Sample> samples;
  for (int n : {9, 3, 7, 5, 4, 8, 6, 2}) samples.push_back({std::vector<TokenId>(static_cast<std::size_t>(n), 1), 0});
  const auto groups = length_sorted_batches(samples, 3, false);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0], (std::vector<std::size_t>{7, 1, 4}));  // lengths 2, 3, 4
  std::vector<std::size_t> lengths;
  for (const Sample& s : samples) lengths.push_back(s.tokens.size());
  BatchOrder a(lengths, 2, 42, BatchOrder::Kind::kSortedGroups, "samples");
  BatchOrder b(lengths, 2, 42, BatchOrder::Kind::kSortedGroups, "samples");
  std::vector<std::vector<std::size_t>> batches_a, batches_b;
  for (int i = 0; i < 12; ++i) {
    batches_a.push_back(a.next());
    batches_b.push_back(b.next());
  }
  EXPECT_EQ(batches_a, batches_b);
  EXPECT_EQ(a.epoch(), 2);  // 4 groups of 2 per epoch
  // Every epoch visits each length-sorted group once.
  std::vector<std::vector<std::size_t>> first_epoch(batches_a.begin(), batches_a.begin() + 4);
  std::sort(first_epoch.begin(), first_epoch.end());
  auto sorted_groups = length_sorted_batches(samples, 2, false);
  std::sort(sorted_groups.begin(), sorted_groups.end());
  EXPECT_EQ(first_epoch, sorted_groups);
  EXPECT_THROW(BatchOrder(lengths, 9, 1, BatchOrder::Kind::kShuffled, "samples"), InvalidInput);
}

TrainConfig small_config(const ScratchDir& dir, const std::string& type) {
  write_small_data(dir / "data", 48, 16);
  TrainConfig c;
  c.model = bundled_model().string();
  c.data = (dir / "data").string();
  c.adapter.type = parse_fine_tune_type(type);
  c.iters = 12;
  c.batch_size = 4;
  c.learning_rate = type == "full" ? 3e-4 : 1e-3;
  c.max_seq_length = 96;
  c.steps_per_report = 4;
  c.steps_per_eval = 6;
  c.val_batches = 2;
  c.save_every = 0;
  c.threads = 2;
  c.adapter_path = (dir / "adapter").string();
  return c;
}

TEST(Trainer, SameSeedGivesBitIdenticalLossesAndTheLossFalls) {
  ScratchDir dir;
  TrainConfig c = small_config(dir, "lora");
  c.adapter.dropout = 0.1f;
  c.grad_accumulation_steps = 2;
  c.iters = 8;
  const TrainResult a = train(c);
  const TrainResult b = train(c);
  ASSERT_EQ(a.step_losses.size(), 8u);
  for (std::size_t i = 0; i < a.step_losses.size(); ++i) EXPECT_EQ(a.step_losses[i], b.step_losses[i]) << "step " << i;
  EXPECT_EQ(a.val_loss, b.val_loss);
  c.seed = 1;
  const TrainResult other = train(c);
  EXPECT_NE(other.step_losses, a.step_losses);
  EXPECT_LT(a.val_loss, std::log(70.2));  // the base model scores ~4.25 nats on this text
  EXPECT_EQ(a.trainable_params, 5 * 1156 * 8);
  EXPECT_GT(a.peak_rss_mb, 1.0);
}

double reload_val_loss(const std::filesystem::path& adapter, const std::vector<Sample>& valid) {
  const TrainableModel tm = load_adapted_model(Model::load(bundled_model()), adapter);
  return evaluate_loss(tm, valid, 4, -1).loss;
}

TEST(AdapterIo, BothLayoutsReloadToTheIdenticalValidationLossAndFuseMatches) {
  for (const std::string type : {"lora", "dora"}) {
    SCOPED_TRACE(type);
    ScratchDir dir;
    TrainConfig c = small_config(dir, type);
    c.adapter.keys = {"self_attn.q_proj", "self_attn.v_proj", "mlp.down_proj"};
    c.adapter.num_layers = 3;
    const TrainResult r = train(c);
    const auto tokenizer = load_tokenizer(bundled_model());
    DataOptions d;
    d.max_seq_length = c.max_seq_length;
    const auto valid = load_split(c.data, "valid", *tokenizer, d);
    EXPECT_EQ(reload_val_loss(c.adapter_path, valid), r.val_loss);

    // PEFT layout: written from the reloaded model, read back.
    TrainableModel tm = load_adapted_model(Model::load(bundled_model()), c.adapter_path);
    save_adapter(dir / "peft", tm, AdapterFormat::kPeft);
    const nlohmann::json peft = nlohmann::json::parse(lorafarm::testing::read_file(dir / "peft" / "adapter_config.json"));
    EXPECT_EQ(peft["r"], 8);
    EXPECT_EQ(peft["lora_alpha"], 160.0);
    EXPECT_EQ(peft["use_dora"], type == "dora");
    EXPECT_EQ(peft["target_modules"], (std::vector<std::string>{"q_proj", "v_proj", "down_proj"}));
    EXPECT_EQ(reload_val_loss(dir / "peft", valid), r.val_loss);

    // Fused: a plain model whose loss equals base + adapter.
    save_model_folder(tm.merged_model(), bundled_model(), dir / "fused");
    EvalOptions e;
    e.max_seq_length = c.max_seq_length;
    const Model fused = Model::load(dir / "fused");
    std::vector<std::vector<TokenId>> seqs;
    for (const Sample& s : valid) seqs.push_back(s.tokens);
    const double fused_loss = evaluate_sequences(fused, seqs, e).loss;
    EXPECT_NEAR(fused_loss, r.val_loss, 1e-4);
    EXPECT_GT(std::abs(fused_loss - evaluate_sequences(Model::load(bundled_model()), seqs, e).loss), 1e-3);
  }
}

TEST(AdapterIo, FullFineTuningSavesEveryWeightAndResumes) {
  ScratchDir dir;
  TrainConfig c = small_config(dir, "full");
  const TrainResult r = train(c);
  const auto tokenizer = load_tokenizer(bundled_model());
  DataOptions d;
  d.max_seq_length = c.max_seq_length;
  const auto valid = load_split(c.data, "valid", *tokenizer, d);
  EXPECT_EQ(reload_val_loss(c.adapter_path, valid), r.val_loss);
  // Resuming from the saved weights with no further effect: 1 step at a tiny rate.
  c.resume_adapter_file = (dir / "adapter" / "adapters.safetensors").string();
  c.adapter_path = (dir / "adapter2").string();
  c.iters = 1;
  c.learning_rate = 1e-12;
  const TrainResult resumed = train(c);
  EXPECT_NEAR(resumed.val_loss, r.val_loss, 1e-5);
}

TEST(AdapterIo, RejectsMismatchedShapesAndBases) {
  ScratchDir dir;
  TrainConfig c = small_config(dir, "lora");
  c.iters = 2;
  train(c);
  // Same architecture, other keys: a tensor is missing.
  AdapterConfig other;
  other.keys = {"q_proj"};
  TrainableModel tm(Model::load(bundled_model()), other, 0);
  EXPECT_THROW(load_adapter_weights(c.adapter_path, tm), InvalidInput);
  // Another rank: shapes differ.
  AdapterConfig rank4;
  rank4.rank = 4;
  TrainableModel tm4(Model::load(bundled_model()), rank4, 0);
  try {
    load_adapter_weights(c.adapter_path, tm4);
    FAIL();
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("has shape [64, 8], this model needs [64, 4]"), std::string::npos) << e.what();
  }
  // Same shapes, other weights: the fingerprint differs.
  Model changed = Model::load(bundled_model());
  changed.embed_tokens(0, 0) += 1.0f;
  TrainableModel tm_changed(std::move(changed), AdapterConfig{}, 0);
  try {
    load_adapter_weights(c.adapter_path, tm_changed);
    FAIL();
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("trained on a different base model"), std::string::npos) << e.what();
  }
}

// --- the CLI -----------------------------------------------------------------

std::vector<std::string> train_args(const ScratchDir& dir) {
  write_small_data(dir / "data", 48, 16);
  return {"train", "--model", bundled_model().string(), "--data", (dir / "data").string(), "--iters", "4",
          "--batch-size", "4", "--max-seq-length", "64", "--steps-per-report", "2", "--steps-per-eval", "2",
          "--val-batches", "1", "--adapter-path", (dir / "adapter").string(), "--threads", "1", "--learning-rate", "1e-3"};
}

void expect_one_line_error(const lorafarm::testing::ProcessResult& r, const std::string& fragment) {
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find(fragment), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST(TrainCli, JsonLinesCarryTheKeysTheWorkerReads) {
  ScratchDir dir;
  auto args = train_args(dir);
  args.push_back("--json");
  const auto r = run_lorafarm(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  int reports = 0, evals = 0, finals = 0;
  while (std::getline(lines, line)) {
    const auto j = nlohmann::json::parse(line);
    if (j.contains("final")) {
      ++finals;
      for (const char* key : {"val_loss", "val_ppl", "test_loss", "test_ppl", "peak_rss_mb", "trainable_params",
                              "tokens_per_second", "train_seconds"}) {
        EXPECT_TRUE(j.contains(key)) << key;
      }
      EXPECT_EQ(j["trainable_params"], 5 * 1156 * 8);
      EXPECT_NEAR(j["val_ppl"].get<double>(), std::exp(j["val_loss"].get<double>()), 1e-6);
    } else if (j.contains("train_loss")) {
      ++reports;
      for (const char* key : {"step", "learning_rate", "tokens_per_second", "trained_tokens", "peak_rss_mb"}) {
        EXPECT_TRUE(j.contains(key)) << key;
      }
    } else if (j.contains("val_loss")) {
      ++evals;
      EXPECT_TRUE(j.contains("val_ppl"));
    }
  }
  EXPECT_EQ(reports, 2);
  EXPECT_EQ(evals, 2);  // step 2, and the final full validation at step 4
  EXPECT_EQ(finals, 1);
  EXPECT_TRUE(std::filesystem::exists(dir / "adapter" / "adapters.safetensors"));
  EXPECT_TRUE(std::filesystem::exists(dir / "adapter" / "adapter_config.json"));

  // The config file form, PEFT layout, then eval with the adapter.
  write_file(dir / "trial.json", nlohmann::json{{"model", bundled_model().string()},
                                                {"data", (dir / "data").string()},
                                                {"fine_tune_type", "dora"},
                                                {"iters", 2},
                                                {"batch_size", 4},
                                                {"max_seq_length", 64},
                                                {"lora_parameters", {{"rank", 4}, {"alpha", 8}}},
                                                {"adapter_path", (dir / "peft").string()},
                                                {"adapter_format", "peft"}}
                                     .dump());
  const auto c = run_lorafarm({"train", "--config", (dir / "trial.json").string(), "--json"});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_TRUE(std::filesystem::exists(dir / "peft" / "adapter_model.safetensors"));
}

TEST(TrainCli, BadInputGetsOneClearLine) {
  ScratchDir dir;
  const auto base = train_args(dir);
  auto with = [&](std::vector<std::string> extra) {
    auto a = base;
    a.insert(a.end(), extra.begin(), extra.end());
    return run_lorafarm(a);
  };
  expect_one_line_error(with({"--rank", "0"}), "lora rank 0 is out of range");
  expect_one_line_error(with({"--rank", "65"}), "lora rank 65 is out of range");
  expect_one_line_error(with({"--keys", "self_attn.x_proj"}), "unknown lora key 'self_attn.x_proj'");
  expect_one_line_error(with({"--num-layers", "6"}), "num_layers 6 is out of range");
  expect_one_line_error(with({"--num-layers", "-2"}), "num_layers -2 is out of range");

  std::filesystem::create_directories(dir / "empty");
  std::filesystem::create_directories(dir / "masked");
  write_file(dir / "empty" / "train.jsonl", "");
  write_file(dir / "empty" / "valid.jsonl", R"({"text": "hello there"})" "\n");
  auto a = base;
  a[4] = (dir / "empty").string();
  expect_one_line_error(run_lorafarm(a), "the train set is empty");

  write_file(dir / "masked" / "train.jsonl", R"({"prompt": "a prompt that is long enough", "completion": " x"})" "\n");
  write_file(dir / "masked" / "valid.jsonl", R"({"text": "hello there"})" "\n");
  a[4] = (dir / "masked").string();
  a[10] = "4";  // --max-seq-length
  a.push_back("--mask-prompt");
  expect_one_line_error(run_lorafarm(a), "no token carries loss");

  write_file(dir / "bad.json", R"({"model": "m", "data": "d", "lora_rank": 3})");
  expect_one_line_error(run_lorafarm({"train", "--config", (dir / "bad.json").string()}), "unknown training option 'lora_rank'");
}

}  // namespace
}  // namespace lorafarm::engine
