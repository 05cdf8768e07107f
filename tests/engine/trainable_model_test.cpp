// The whole model's loss gradient by finite differences for each method, the
// closed-form trainable-parameter counts, gradient checkpointing, and the
// configuration errors a user can make.
#include "engine/trainable_model.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "engine/forward.h"
#include "engine/gradient_check.h"
#include "engine/trainable_fixtures.h"
#include "test_support.h"

namespace lorafarm::engine {
namespace {

using namespace testing_support;

// A tiny random model with weights large enough that the loss is not flat.
Model tiny_model(bool tied = true, bool bias = false) {
  ModelConfig c = preset_config("tiny");
  c.tie_word_embeddings = tied;
  c.attention_bias = bias;
  Model m = Model::random(c, 11);
  auto scale = [](Matrix& w) { w *= 15.0f; };
  scale(m.embed_tokens);
  if (!tied) scale(m.lm_head);
  for (DecoderBlock& b : m.blocks) {
    for (Linear* l : {&b.q_proj, &b.k_proj, &b.v_proj, &b.o_proj, &b.gate_proj, &b.up_proj, &b.down_proj}) {
      scale(l->weight);
      if (l->has_bias()) l->bias = random_matrix(l->bias.size(), 1, 0.3f, 12);
    }
    b.input_norm += random_matrix(b.input_norm.size(), 1, 0.2f, 13);
  }
  return m;
}

void check_model_gradients(TrainableModel& tm, bool checkpoint, int samples) {
  const TrainBatch batch = tiny_batch();
  tm.zero_grad();
  const auto l = tm.forward_backward(batch, 1.0f / static_cast<float>(batch.loss_tokens()), checkpoint, 0);
  EXPECT_NEAR(l.sum / static_cast<double>(l.tokens), mean_loss(tm, batch), 1e-5);
  ASSERT_FALSE(tm.parameters().empty());
  for (const ParamRef& p : tm.parameters()) {
    expect_gradient(p.values(), p.grads(), [&] { return mean_loss(tm, batch); }, p.name, samples);
  }
}

TEST(TrainableModelGradient, LoraWholeModelLossMatchesFiniteDifferences) {
  AdapterConfig config;
  config.rank = 3;
  config.scale = 2.0f;
  TrainableModel tm(tiny_model(), config, 1);
  perturb_adapters(tm, 100);
  check_model_gradients(tm, false, 6);
}

TEST(TrainableModelGradient, DoraWholeModelLossMatchesFiniteDifferencesOnMagnitude) {
  // Only m: the row norm is a stop-gradient for A and B, which the true loss is not.
  AdapterConfig config;
  config.type = FineTuneType::kDora;
  config.rank = 3;
  config.scale = 2.0f;
  TrainableModel tm(tiny_model(), config, 1);
  perturb_adapters(tm, 100);
  const TrainBatch batch = tiny_batch();
  tm.zero_grad();
  tm.forward_backward(batch, 1.0f / static_cast<float>(batch.loss_tokens()), false, 0);
  int checked = 0;
  for (const ParamRef& p : tm.parameters()) {
    if (p.name.ends_with(".m")) {
      expect_gradient(p.values(), p.grads(), [&] { return mean_loss(tm, batch); }, p.name, 6);
      ++checked;
    }
  }
  EXPECT_EQ(checked, 14);
}

TEST(TrainableModelGradient, FullFineTuningEveryWeightMatchesFiniteDifferences) {
  AdapterConfig config;
  config.type = FineTuneType::kFull;
  TrainableModel tm(tiny_model(), config, 1);
  check_model_gradients(tm, false, 5);
}

// A window in the second layer only (Qwen2's max_window_layers 1): the
// backward through masked attention matches finite differences, with and
// without gradient checkpointing.
TEST(TrainableModelGradient, PerLayerSlidingWindowMatchesFiniteDifferences) {
  Model model = tiny_model();
  model.config.sliding_window = 3;
  model.config.sliding_layers = {false, true};
  AdapterConfig config;
  config.type = FineTuneType::kFull;
  TrainableModel tm(model, config, 1);
  check_model_gradients(tm, false, 4);
  check_model_gradients(tm, true, 4);
}

TEST(TrainableModelGradient, FullUntiedHeadWithBiasesMatchesFiniteDifferences) {
  AdapterConfig config;
  config.type = FineTuneType::kFull;
  TrainableModel tm(tiny_model(/*tied=*/false, /*bias=*/true), config, 1);
  bool has_head = false, has_bias = false;
  for (const ParamRef& p : tm.parameters()) {
    has_head |= p.name == "lm_head.weight";
    has_bias |= p.name.ends_with(".bias");
  }
  EXPECT_TRUE(has_head);
  EXPECT_TRUE(has_bias);
  check_model_gradients(tm, false, 4);
}

TEST(TrainableModelGradient, LastLayersSubsetOfKeysWithCheckpointing) {
  AdapterConfig config;
  config.rank = 2;
  config.scale = 2.0f;
  config.num_layers = 1;
  config.keys = {"v_proj", "mlp.down_proj"};
  TrainableModel tm(tiny_model(), config, 1);
  perturb_adapters(tm, 100);
  EXPECT_EQ(tm.parameters().size(), 4u);
  check_model_gradients(tm, true, 8);
}

TEST(TrainableModel, GradientCheckpointingGivesTheSameGradients) {
  for (FineTuneType type : {FineTuneType::kLora, FineTuneType::kFull}) {
    AdapterConfig config;
    config.type = type;
    config.dropout = 0.1f;
    TrainableModel a(tiny_model(), config, 5), b(tiny_model(), config, 5);
    perturb_adapters(a, 100);
    perturb_adapters(b, 100);
    a.zero_grad();
    b.zero_grad();
    const TrainBatch batch = tiny_batch();
    const auto la = a.forward_backward(batch, 0.1f, false, 77);
    const auto lb = b.forward_backward(batch, 0.1f, true, 77);
    EXPECT_EQ(la.sum, lb.sum);
    for (std::size_t i = 0; i < a.parameters().size(); ++i) {
      const ParamRef& pa = a.parameters()[i];
      const ParamRef& pb = b.parameters()[i];
      for (int64_t j = 0; j < pa.size; ++j) ASSERT_EQ(pa.grad[j], pb.grad[j]) << pa.name << " " << j;
    }
  }
}

TEST(TrainableModel, FreshAdapterLeavesTheBaseModelLoss) {
  const Model base = Model::load(lorafarm::testing::bundled_model());
  TrainableModel tm(base, AdapterConfig{}, 3);
  TrainBatch batch;
  const std::vector<TokenId> seq = {1, 403, 407, 261, 378, 395, 302, 500, 259, 66};
  batch.batch = 1;
  batch.length = static_cast<int>(seq.size()) - 1;
  batch.inputs.assign(seq.begin(), seq.end() - 1);
  batch.targets.assign(seq.begin() + 1, seq.end());
  batch.weights.assign(batch.inputs.size(), 1.0f);
  const std::vector<std::vector<TokenId>> one{seq};
  const Matrix logits = forward(base, TokenBatch::from_sequences(one));
  double expected = 0;
  for (int t = 0; t + 1 < static_cast<int>(seq.size()); ++t) {
    const Eigen::VectorXd row = logits.row(t).cast<double>();
    const double m = row.maxCoeff();
    expected += std::log((row.array() - m).exp().sum()) + m - row(seq[static_cast<std::size_t>(t) + 1]);
  }
  EXPECT_NEAR(tm.loss(batch).sum, expected, 1e-4);
}

// The training forward masks each layer with its own window: its loss on the
// Qwen2 fixture (layer 0 full, layers 1-2 windowed) is the cross-entropy of
// the float64 reference logits (tests/engine/config_semantics/make_fixtures.py).
TEST(TrainableModel, LossUsesEachLayersSlidingWindow) {
  const auto folder = lorafarm::testing::source_dir() / "tests/engine/config_semantics/qwen2_sliding_layers";
  const TrainableModel tm(Model::load(folder), AdapterConfig{}, 3);
  std::ifstream in(folder / "golden.json");
  const nlohmann::json golden = nlohmann::json::parse(in);
  for (const nlohmann::json& c : golden["cases"]) {
    const auto seq = c["tokens"].get<std::vector<TokenId>>();
    TrainBatch batch;
    batch.batch = 1;
    batch.length = static_cast<int>(seq.size()) - 1;
    batch.inputs.assign(seq.begin(), seq.end() - 1);
    batch.targets.assign(seq.begin() + 1, seq.end());
    batch.weights.assign(batch.inputs.size(), 1.0f);
    double expected = 0;
    for (std::size_t t = 0; t + 1 < seq.size(); ++t) {
      const auto row = c["logits"][t].get<std::vector<double>>();
      const double m = *std::max_element(row.begin(), row.end());
      double sum = 0;
      for (double v : row) sum += std::exp(v - m);
      expected += std::log(sum) + m - row[static_cast<std::size_t>(seq[t + 1])];
    }
    EXPECT_NEAR(tm.loss(batch).sum, expected, 1e-4);
  }
}

TEST(TrainableModel, TrainableParamsEqualTheClosedForm) {
  const Model base = Model::load(lorafarm::testing::bundled_model());
  const ModelConfig& c = base.config;  // hidden 64, ff 172, 8 heads / 4 kv of 8
  struct Case {
    FineTuneType type;
    int rank;
    int layers;
    std::vector<std::string> keys;
    int64_t expected;
  };
  // LoRA per block at rank r: r·(64+64 + 64+32 + 64+32 + 64+64 + 64+172 + 64+172 + 172+64) = 1156·r.
  const std::vector<Case> cases = {
      {FineTuneType::kLora, 8, -1, {}, 5 * 1156 * 8},
      {FineTuneType::kLora, 4, 2, {"q_proj", "v_proj"}, 2 * 4 * (128 + 96)},
      {FineTuneType::kDora, 8, -1, {}, 5 * (1156 * 8 + 64 + 32 + 32 + 64 + 172 + 172 + 64)},
      {FineTuneType::kFull, 8, -1, {}, c.parameter_count()},
  };
  for (const Case& k : cases) {
    AdapterConfig config;
    config.type = k.type;
    config.rank = k.rank;
    config.num_layers = k.layers;
    config.keys = k.keys;
    const TrainableModel tm(base, config, 1);
    EXPECT_EQ(tm.trainable_params(), k.expected) << fine_tune_type_name(k.type);
    EXPECT_EQ(expected_trainable_params(c, config), k.expected) << fine_tune_type_name(k.type);
  }
}

TEST(TrainableModel, ScaleFromAlphaAndRsLora) {
  AdapterConfig config;
  config.rank = 16;
  EXPECT_FLOAT_EQ(config.effective_scale(), 20.0f);
  config.alpha = 32.0f;
  EXPECT_FLOAT_EQ(config.effective_scale(), 2.0f);
  config.rslora = true;
  EXPECT_FLOAT_EQ(config.effective_scale(), 8.0f);
}

void expect_invalid(const AdapterConfig& config, const std::string& fragment) {
  try {
    TrainableModel tm(tiny_model(), config, 1);
    ADD_FAILURE() << "expected InvalidInput containing '" << fragment << "'";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(TrainableModelErrors, RejectsBadConfigurations) {
  AdapterConfig rank0;
  rank0.rank = 0;
  expect_invalid(rank0, "lora rank 0 is out of range");
  AdapterConfig too_big;
  too_big.rank = 33;  // tiny: hidden 32
  expect_invalid(too_big, "lora rank 33 is out of range");
  AdapterConfig key;
  key.keys = {"self_attn.w_proj"};
  expect_invalid(key, "unknown lora key 'self_attn.w_proj'");
  AdapterConfig layers;
  layers.num_layers = 3;  // tiny: 2 blocks
  expect_invalid(layers, "num_layers 3 is out of range");
  layers.num_layers = 0;
  expect_invalid(layers, "num_layers 0 is out of range");
}

}  // namespace
}  // namespace lorafarm::engine
