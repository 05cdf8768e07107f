// DPO: the pair losses against torch float64 values, a hand-built batch's
// loss against a float64 reference built from single-sequence scores, the
// gradient by finite differences for each method, the adapters-off
// reference, the preference record formats and the options' errors.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <map>
#include <numeric>
#include <sstream>

#include "engine/dpo_loss.h"
#include "engine/error.h"
#include "engine/gradient_check.h"
#include "engine/model_config.h"
#include "engine/preference_data.h"
#include "engine/preference_training.h"
#include "engine/tokenizer.h"
#include "engine/trainable_fixtures.h"
#include "engine/trainable_model.h"
#include "engine/trainer.h"
#include "test_support.h"

namespace lorafarm::engine {
namespace {

using namespace testing_support;
using nlohmann::json;

struct TorchCase {
  const char* loss_type;
  double beta, label_smoothing;
  PairLogProbs lp;
  double loss, d_chosen, d_rejected;
};

// Printed by tests/engine/dpo_reference.py (TRL's formulas in torch float64, autograd derivatives).
const TorchCase kTorchCases[] = {
    {"sigmoid", 0.1, 0.0, {-12.5, -14.25, -13.0, -13.5}, 0.6325990353171691, -0.04687906266262438, 0.04687906266262438},
    {"sigmoid", 0.1, 0.0, {-3.0, -2.0, -3.5, -2.25}, 0.6807253035255248, -0.04937503255004896, 0.04937503255004896},
    {"sigmoid", 0.1, 0.0, {-40.0, -55.0, -41.0, -50.0}, 0.4374879504858856, -0.03543436937742045, 0.03543436937742045},
    {"sigmoid", 0.1, 0.0, {-7.0, -7.0, -7.0, -7.0}, 0.6931471805599453, -0.05, 0.05},
    {"sigmoid", 0.5, 0.2, {-12.5, -14.25, -13.0, -13.5}, 0.5537006782765187, -0.07432256766697289, 0.07432256766697289},
    {"sigmoid", 0.5, 0.2, {-3.0, -2.0, -3.5, -2.25}, 0.6575990353171691, -0.13439531331312188, 0.13439531331312188},
    {"sigmoid", 0.5, 0.2, {-40.0, -55.0, -41.0, -50.0}, 0.6485873515737421, 0.07628706341121662, -0.07628706341121662},
    {"sigmoid", 0.5, 0.2, {-7.0, -7.0, -7.0, -7.0}, 0.6931471805599453, -0.15000000000000002, 0.15000000000000002},
    {"robust", 0.3, 0.1, {-12.5, -14.25, -13.0, -13.5}, 0.4762482641398401, -0.15970002001377906, 0.15970002001377906},
    {"robust", 0.3, 0.1, {-3.0, -2.0, -3.5, -2.25}, 0.6469751408267951, -0.18187763523643943, 0.18187763523643943},
    {"robust", 0.3, 0.1, {-40.0, -55.0, -41.0, -50.0}, -0.07202238947392584, -0.08005531947014635, 0.08005531947014635},
    {"robust", 0.3, 0.1, {-7.0, -7.0, -7.0, -7.0}, 0.6931471805599452, -0.18749999999999997, 0.18749999999999997},
    {"ipo", 0.1, 0.0, {-12.5, -14.25, -13.0, -13.5}, 14.0625, -7.5, 7.5},
    {"ipo", 0.1, 0.0, {-3.0, -2.0, -3.5, -2.25}, 22.5625, -9.5, 9.5},
    {"ipo", 0.1, 0.0, {-40.0, -55.0, -41.0, -50.0}, 1.0, 2.0, -2.0},
    {"ipo", 0.1, 0.0, {-7.0, -7.0, -7.0, -7.0}, 25.0, -10.0, 10.0},
    {"ipo", 2.0, 0.0, {-12.5, -14.25, -13.0, -13.5}, 1.0, 2.0, -2.0},
    {"ipo", 2.0, 0.0, {-3.0, -2.0, -3.5, -2.25}, 0.0, 0.0, -0.0},
    {"ipo", 2.0, 0.0, {-40.0, -55.0, -41.0, -50.0}, 33.0625, 11.5, -11.5},
    {"ipo", 2.0, 0.0, {-7.0, -7.0, -7.0, -7.0}, 0.0625, -0.5, 0.5},
};

DpoOptions options_for(const char* loss_type, double beta, double label_smoothing) {
  DpoOptions o;
  o.loss_type = parse_dpo_loss_type(loss_type);
  o.beta = beta;
  o.label_smoothing = label_smoothing;
  return o;
}

TEST(DpoLoss, PairLossesAndDerivativesMatchTorchFloat64) {
  for (const TorchCase& c : kTorchCases) {
    const PairLoss l = dpo_pair_loss(c.lp, options_for(c.loss_type, c.beta, c.label_smoothing));
    const std::string what = std::string(c.loss_type) + " beta " + std::to_string(c.beta);
    EXPECT_NEAR(l.loss, c.loss, 1e-12) << what;
    EXPECT_NEAR(l.d_policy_chosen, c.d_chosen, 1e-12) << what;
    EXPECT_NEAR(l.d_policy_rejected, c.d_rejected, 1e-12) << what;
    EXPECT_DOUBLE_EQ(l.reward_chosen, c.beta * (c.lp.policy_chosen - c.lp.reference_chosen)) << what;
  }
}

TEST(DpoLoss, MetricsAverageThePairsAndCountATieAsHalf) {
  DpoMetricsSum sum;
  const DpoOptions o = options_for("sigmoid", 0.1, 0);
  for (const TorchCase& c : kTorchCases) {
    if (std::string(c.loss_type) == "sigmoid" && c.beta == 0.1) sum.add(c.lp, dpo_pair_loss(c.lp, o));
  }
  const DpoMetrics m = sum.mean();
  EXPECT_EQ(m.pairs, 4);
  // Rewards 0.1·(ratio): pair 1 (+0.05, −0.075) right, 2 (+0.05, +0.025) right, 3 (+0.1, −0.5) right, 4 a tie.
  EXPECT_DOUBLE_EQ(m.reward_accuracy, 3.5 / 4);
  EXPECT_NEAR(m.reward_margin, (0.125 + 0.025 + 0.6 + 0) / 4, 1e-12);
  EXPECT_NEAR(m.logps_chosen, (-12.5 - 3 - 40 - 7) / 4, 1e-12);
  EXPECT_NEAR(m.loss, (0.6325990353171691 + 0.6807253035255248 + 0.4374879504858856 + 0.6931471805599453) / 4, 1e-12);
  EXPECT_THROW(DpoMetricsSum().mean(), InvalidInput);
}

Sample sample(std::vector<TokenId> tokens, int prompt_tokens) { return {std::move(tokens), prompt_tokens}; }

// Two pairs: shared prompts (masked), completions of unequal lengths (padding).
std::vector<PreferencePair> hand_built_pairs() {
  return {{sample({1, 5, 9, 33, 2, 17, 40}, 3), sample({1, 5, 9, 40, 17}, 3)},
          {sample({1, 60, 3, 8, 21}, 2), sample({1, 60, 3, 12, 50, 7, 7, 30}, 2)}};
}

// Σ log p of one sample's completion, scored alone (TrainableModel::loss of a one-row batch).
double single_log_prob(const TrainableModel& tm, const Sample& s) {
  const std::vector<Sample> one{s};
  const std::vector<std::size_t> first{0};
  return -tm.loss(make_batch(one, first)).sum;
}

TEST(DpoBatch, PairBatchPutsChosenAndRejectedInAlternateRowsWithPromptsMasked) {
  const auto pairs = hand_built_pairs();
  const std::vector<std::size_t> both{0, 1};
  const TrainBatch b = make_pair_batch(pairs, both);
  ASSERT_EQ(b.batch, 4);
  EXPECT_EQ(b.length, 7);
  EXPECT_EQ(b.inputs[0 * 7 + 3], 33);  // chosen 0
  EXPECT_EQ(b.inputs[1 * 7 + 3], 40);  // rejected 0
  EXPECT_EQ(b.inputs[3 * 7 + 6], 7);   // rejected 1, its last input
  // Targets past the prompt carry loss: chosen 0 has 7 tokens, prompt 3 → targets 3..6 (4 weights).
  EXPECT_EQ(std::accumulate(b.weights.begin(), b.weights.begin() + 7, 0.0f), 4.0f);
  EXPECT_EQ(std::accumulate(b.weights.begin() + 21, b.weights.end(), 0.0f), 6.0f);
}

// The loss of the hand-built batch through the engine's batched path
// equals the float64 formula applied to each sequence scored on its own.
TEST(DpoBatch, LossOfAHandBuiltBatchEqualsAFloat64Reference) {
  AdapterConfig config;
  config.rank = 3;
  config.scale = 2.0f;
  TrainableModel policy(sharpened_tiny_model(), config, 1);
  perturb_adapters(policy, 200);
  const TrainableModel base(sharpened_tiny_model(), config, 1);  // B = 0: the base model exactly
  const auto pairs = hand_built_pairs();
  const std::vector<std::size_t> both{0, 1};
  const TrainBatch batch = make_pair_batch(pairs, both);
  TrainConfig train;
  train.adapter = config;
  ReferenceModel reference(policy, train);
  ReferenceCache cache(reference, pairs.size());
  const auto ref = cache.get(both, batch);
  for (const char* type : {"sigmoid", "ipo"}) {
    const DpoOptions o = options_for(type, 0.3, 0);
    long double expected = 0;
    for (const PreferencePair& p : pairs) {
      const long double nc = o.averages_log_probs() ? p.chosen.tokens.size() - p.chosen.prompt_tokens : 1;
      const long double nr = o.averages_log_probs() ? p.rejected.tokens.size() - p.rejected.prompt_tokens : 1;
      const long double h = (single_log_prob(policy, p.chosen) - single_log_prob(base, p.chosen)) / nc -
                            (single_log_prob(policy, p.rejected) - single_log_prob(base, p.rejected)) / nr;
      expected += o.averages_log_probs() ? std::pow(h - 1 / (2 * 0.3L), 2) : std::log1p(std::exp(-0.3L * h));
    }
    expected /= 2;
    policy.zero_grad();
    const PreferenceStepPart part = dpo_forward_backward(policy, batch, ref, o, 0.5f, false, 0);
    EXPECT_EQ(part.pairs, 2);
    EXPECT_NEAR(part.loss_sum / 2, static_cast<double>(expected), 2e-5) << type;
    DpoMetrics m = evaluate_preferences(policy, cache, pairs, o, 2, -1);
    EXPECT_NEAR(m.loss, static_cast<double>(expected), 2e-5) << type;
  }
}

// DPO's mean loss over the hand-built pairs for the policy as it is now.
double dpo_mean_loss(const TrainableModel& policy, const std::vector<std::pair<double, double>>& ref,
                     const DpoOptions& o) {
  const auto pairs = hand_built_pairs();
  const std::vector<std::size_t> both{0, 1};
  const TrainBatch batch = make_pair_batch(pairs, both);
  double sum = 0;
  for (const PairLogProbs& lp : pair_log_probs(batch, policy.sequence_losses(batch, std::nullopt), ref, o)) {
    sum += dpo_pair_loss(lp, o).loss;
  }
  return sum / 2;
}

// Finite differences of the mean DPO loss against dpo_forward_backward's gradient.
void check_dpo_gradients(TrainableModel& policy, const DpoOptions& o, const std::string& only_suffix, int samples) {
  const auto pairs = hand_built_pairs();
  const std::vector<std::size_t> both{0, 1};
  const TrainBatch batch = make_pair_batch(pairs, both);
  // The reference: the untouched base's scores (fixed during the check).
  AdapterConfig plain;
  plain.rank = 1;
  const TrainableModel base(sharpened_tiny_model(), plain, 1);
  const auto base_losses = base.sequence_losses(batch, std::nullopt);
  const std::vector<std::pair<double, double>> ref{{-base_losses[0], -base_losses[1]}, {-base_losses[2], -base_losses[3]}};
  policy.zero_grad();
  dpo_forward_backward(policy, batch, ref, o, 0.5f, false, 0);
  int checked = 0;
  for (const ParamRef& p : policy.parameters()) {
    if (!only_suffix.empty() && !p.name.ends_with(only_suffix)) continue;
    expect_gradient(p.values(), p.grads(), [&] { return dpo_mean_loss(policy, ref, o); }, p.name, samples);
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

TEST(DpoGradient, LoraSigmoidWithLabelSmoothingMatchesFiniteDifferences) {
  AdapterConfig config;
  config.rank = 3;
  config.scale = 2.0f;
  TrainableModel tm(sharpened_tiny_model(), config, 1);
  perturb_adapters(tm, 200);
  check_dpo_gradients(tm, options_for("sigmoid", 0.5, 0.1), "", 2);
}

TEST(DpoGradient, LoraIpoAveragedLogProbsMatchFiniteDifferences) {
  AdapterConfig config;
  config.rank = 2;
  config.scale = 2.0f;
  TrainableModel tm(sharpened_tiny_model(), config, 1);
  perturb_adapters(tm, 200);
  check_dpo_gradients(tm, options_for("ipo", 0.5, 0), "", 2);
}

TEST(DpoGradient, DoraMagnitudesMatchFiniteDifferences) {
  // Only m: DoRA's row norm is a stop-gradient for A and B (docs/training.md).
  AdapterConfig config;
  config.type = FineTuneType::kDora;
  config.rank = 2;
  config.scale = 2.0f;
  TrainableModel tm(sharpened_tiny_model(), config, 1);
  perturb_adapters(tm, 200);
  check_dpo_gradients(tm, options_for("robust", 0.5, 0.2), ".m", 3);
}

TEST(DpoGradient, FullFineTuningMatchesFiniteDifferences) {
  AdapterConfig config;
  config.type = FineTuneType::kFull;
  TrainableModel tm(sharpened_tiny_model(), config, 1);
  // Move the policy off the reference so the pairs' losses differ from log 2.
  for (const ParamRef& p : tm.parameters()) {
    if (p.name.find("down_proj") != std::string::npos) {
      for (float& v : p.values()) v *= 1.3f;
    }
  }
  check_dpo_gradients(tm, options_for("sigmoid", 0.5, 0), "", 3);
}

TEST(DpoReference, AdaptersOffScoreTheBaseModelExactly) {
  for (bool quantized : {false, true}) {
    AdapterConfig config;
    config.rank = 3;
    if (quantized) config.quantization = QuantizationConfig{QuantizationConfig::Mode::kAffine, 4, 32};
    TrainableModel policy(sharpened_tiny_model(), config, 1);
    const TrainableModel base(sharpened_tiny_model(), config, 1);
    perturb_adapters(policy, 200);
    TrainConfig train;
    train.adapter = config;
    ReferenceModel reference(policy, train);
    EXPECT_EQ(reference.bytes(), 0);
    const auto pairs = hand_built_pairs();
    const std::vector<std::size_t> both{0, 1};
    const TrainBatch batch = make_pair_batch(pairs, both);
    const auto ref = reference.sequence_log_probs(batch);
    const auto base_losses = base.sequence_losses(batch, std::nullopt);
    const auto policy_losses = policy.sequence_losses(batch, std::nullopt);  // adapters back on
    for (std::size_t r = 0; r < ref.size(); ++r) {
      EXPECT_DOUBLE_EQ(ref[r], -base_losses[r]) << "row " << r << (quantized ? " qlora" : " lora");
      EXPECT_NE(policy_losses[r], base_losses[r]) << "row " << r;
    }
  }
}

TEST(PreferenceRecords, StandardFormatBecomesPromptCompletionRecords) {
  const auto [c, r] = preference_records(json::parse(R"({"prompt": "The sky is", "chosen": " blue.", "rejected": " green."})"), "x:1");
  EXPECT_EQ(c, json::parse(R"({"prompt": "The sky is", "completion": " blue."})"));
  EXPECT_EQ(r, json::parse(R"({"prompt": "The sky is", "completion": " green."})"));
}

TEST(PreferenceRecords, ImplicitPromptIsTheCommonPrefixBeforeTheDifferingWord) {
  const auto [c, r] = preference_records(json::parse(R"({"chosen": "The sky is blue.", "rejected": "The sky is green."})"), "x:1");
  EXPECT_EQ(c, json::parse(R"({"prompt": "The sky is", "completion": " blue."})"));
  EXPECT_EQ(r, json::parse(R"({"prompt": "The sky is", "completion": " green."})"));
}

TEST(PreferenceRecords, ConversationalFormsBecomeMessageRecords) {
  const json expected_chosen = json::parse(R"({"messages": [{"role": "user", "content": "Sky?"}, {"role": "assistant", "content": "Blue."}]})");
  const json expected_rejected = json::parse(R"({"messages": [{"role": "user", "content": "Sky?"}, {"role": "assistant", "content": "Green."}]})");
  for (const char* text : {
           R"({"prompt": [{"role": "user", "content": "Sky?"}], "chosen": [{"role": "assistant", "content": "Blue."}], "rejected": [{"role": "assistant", "content": "Green."}]})",
           R"({"messages": [{"role": "user", "content": "Sky?"}], "chosen": {"role": "assistant", "content": "Blue."}, "rejected": {"role": "assistant", "content": "Green."}})",
           R"({"chosen": [{"role": "user", "content": "Sky?"}, {"role": "assistant", "content": "Blue."}], "rejected": [{"role": "user", "content": "Sky?"}, {"role": "assistant", "content": "Green."}]})"}) {
    const auto [c, r] = preference_records(json::parse(text), "x:1");
    EXPECT_EQ(c, expected_chosen) << text;
    EXPECT_EQ(r, expected_rejected) << text;
  }
}

TEST(PreferenceRecords, MistakesNameTheLineAndTheField) {
  auto message = [](const char* text) {
    try {
      preference_records(json::parse(text), "data/train.jsonl:3");
    } catch (const InvalidInput& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message(R"({"prompt": "a", "chosen": "b"})"), "data/train.jsonl:3: a preference record needs 'rejected'");
  EXPECT_EQ(message(R"({"prompt": "a", "chosen": "b", "rejected": 3})"),
            "data/train.jsonl:3: with a text 'prompt', 'chosen' and 'rejected' must be texts");
  EXPECT_EQ(message(R"({"chosen": "same", "rejected": "same"})"), "data/train.jsonl:3: 'chosen' and 'rejected' are the same text");
  EXPECT_EQ(message(R"({"messages": [], "chosen": {}, "rejected": {}})"),
            "data/train.jsonl:3: 'messages' must be a message {role, content} or a non-empty list of messages");
}

TEST(PreferenceData, BundledSetLoadsWithPromptsMasked) {
  const auto tokenizer = load_tokenizer(testing::bundled_model());
  DataOptions options;
  options.max_seq_length = 256;
  const auto pairs = load_preference_split(testing::bundled_data("fortunes-dpo"), "valid", *tokenizer, options);
  ASSERT_EQ(pairs.size(), 200u);
  for (const PreferencePair& p : pairs) {
    EXPECT_GT(p.chosen.prompt_tokens, 1);
    EXPECT_EQ(p.chosen.prompt_tokens, p.rejected.prompt_tokens);
    EXPECT_GT(p.chosen.tokens.size(), static_cast<std::size_t>(p.chosen.prompt_tokens));
  }
}

// The chat form goes through the data sets' own chat rendering: the prompt
// (the conversation so far and the assistant header) is masked, the reply is not.
TEST(PreferenceData, ChatFormRendersTheConversationAndMasksItsPrompt) {
  const auto tokenizer = load_tokenizer(testing::bundled_model());
  testing::ScratchDir dir;
  testing::write_file(dir / "train.jsonl",
                      R"({"messages": [{"role": "user", "content": "Tell me a story."}], )"
                      R"("chosen": {"role": "assistant", "content": "Once upon a time."}, )"
                      R"("rejected": {"role": "assistant", "content": "time a upon Once."}})"
                      "\n");
  const auto pairs = load_preference_split(dir.path(), "train", *tokenizer, DataOptions{});
  ASSERT_EQ(pairs.size(), 1u);
  const auto format = default_chat_format();
  const nlohmann::ordered_json user = {{"role", "user"}, {"content", "Tell me a story."}};
  const nlohmann::ordered_json reply = {{"role", "assistant"}, {"content", "Once upon a time."}};
  const std::string prompt = format->render(nlohmann::ordered_json::array({user}), true);
  const int prompt_tokens = static_cast<int>(tokenizer->encode(prompt).size()) + (tokenizer->add_bos() ? 1 : 0);
  EXPECT_EQ(pairs[0].chosen.prompt_tokens, prompt_tokens);
  EXPECT_EQ(pairs[0].rejected.prompt_tokens, prompt_tokens);
  const auto full = tokenizer->encode(format->render(nlohmann::ordered_json::array({user, reply}), false));
  EXPECT_EQ(std::vector<TokenId>(pairs[0].chosen.tokens.begin() + (tokenizer->add_bos() ? 1 : 0),
                                 pairs[0].chosen.tokens.begin() + (tokenizer->add_bos() ? 1 : 0) + static_cast<long>(full.size())),
            full);
}

TEST(DpoConfig, OptionsParseAndMistakesNameTheOption) {
  const auto c = TrainConfig::from_json(
      json::parse(R"({"model": "m", "data": "d", "train_mode": "dpo", "beta": 0.25, "loss_type": "ipo"})"));
  EXPECT_EQ(c.train_mode, "dpo");
  EXPECT_DOUBLE_EQ(c.dpo.beta, 0.25);
  EXPECT_EQ(c.dpo.loss_type, DpoLossType::kIpo);
  EXPECT_EQ(TrainConfig::from_json(c.to_json()).to_json(), c.to_json());
  auto error = [](const char* text) {
    try {
      TrainConfig::from_json(json::parse(text)).validate();
    } catch (const InvalidInput& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(error(R"({"model": "m", "data": "d", "train_mode": "ppo"})"), "train_mode 'ppo' is not sft or dpo");
  EXPECT_EQ(error(R"({"model": "m", "data": "d", "loss_type": "hinge"})"), "loss_type 'hinge' is not sigmoid, robust or ipo");
  EXPECT_EQ(error(R"({"model": "m", "data": "d", "train_mode": "dpo", "beta": 0})"), "beta must be positive, got 0.000000");
  EXPECT_EQ(error(R"({"model": "m", "data": "d", "train_mode": "dpo", "label_smoothing": 0.5})"),
            "label_smoothing must be in [0, 0.5), got 0.500000");
  EXPECT_EQ(error(R"({"model": "m", "data": "d", "train_mode": "dpo", "loss_type": "ipo", "label_smoothing": 0.1})"),
            "label_smoothing applies to the sigmoid and robust losses, not ipo");
}

// A few steps of each method on the bundled preference set: the frozen copy
// of full fine-tuning is tallied, the LoRA family's reference costs nothing.
TEST(DpoTraining, EveryMethodTrainsAndFullFineTuningTalliesItsFrozenCopy) {
  testing::ScratchDir dir;
  // The first lines of each bundled split: the final evaluation scores a whole split.
  const std::map<std::string, int> lines{{"train", 16}, {"valid", 10}, {"test", 4}};
  for (const auto& [split, count] : lines) {
    std::istringstream in(testing::read_file(testing::bundled_data("fortunes-dpo") / (split + ".jsonl")));
    std::string text, line;
    for (int i = 0; i < count && std::getline(in, line); ++i) text += line + "\n";
    testing::write_file(dir / (split + ".jsonl"), text);
  }
  for (const char* method : {"lora", "qlora", "dora", "full"}) {
    json j = {{"model", testing::bundled_model().string()}, {"data", dir.path().string()},
              {"fine_tune_type", method}, {"train_mode", "dpo"}, {"beta", 0.1}, {"iters", 3}, {"batch_size", 2},
              {"learning_rate", 1e-3}, {"val_batches", 2}, {"test_batches", 1}, {"max_seq_length", 256},
              {"adapter_path", (dir / method).string()}, {"threads", 1}, {"save_every", 0}};
    if (std::string(method) == "qlora") j["quantization"] = {{"group_size", 32}};
    const TrainResult r = train(TrainConfig::from_json(j));
    ASSERT_TRUE(r.val_preference) << method;
    EXPECT_EQ(r.val_preference->pairs, 10) << method;
    EXPECT_TRUE(std::isnan(r.val_ppl)) << method;
    EXPECT_EQ(r.test_preference->pairs, 2) << method;
    EXPECT_EQ(r.step_losses.size(), 3u) << method;
    EXPECT_NEAR(r.step_losses[0], std::log(2.0), 1e-6) << method << ": the policy starts as the reference";
    if (std::string(method) == "full") {
      AdapterConfig frozen;  // the copy's rank-1 adapter on one block, with its gradient
      frozen.rank = 1;
      frozen.num_layers = 1;
      const int64_t adapter = expected_trainable_params(ModelConfig::load(testing::bundled_model()), frozen);
      EXPECT_EQ(r.memory.reference_model, r.memory.base_weights + 2 * 4 * adapter);
    } else {
      EXPECT_EQ(r.memory.reference_model, 0) << method;
    }
  }
}

}  // namespace
}  // namespace lorafarm::engine
