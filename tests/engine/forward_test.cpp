// The forward pass against the golden logits shipped with the bundled models
// (float64 reference forward passes; see each model's README), and against the
// config-semantics fixtures (tests/engine/config_semantics/make_fixtures.py).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/forward.h"
#include "engine/golden_logits.h"
#include "engine/model.h"
#include "test_support.h"

namespace lorafarm::engine {
namespace {

using namespace testing_support;
using nlohmann::json;

json load_golden(const std::string& model) {
  std::ifstream in(testing::bundled_model(model) / "golden.json");
  return json::parse(in);
}

double logsumexp(const float* row, Eigen::Index n) {
  double m = row[0];
  for (Eigen::Index j = 1; j < n; ++j) m = std::max<double>(m, row[j]);
  double s = 0;
  for (Eigen::Index j = 0; j < n; ++j) s += std::exp(row[j] - m);
  return m + std::log(s);
}

void check_golden(const std::string& model_name) {
  const Model model = Model::load(testing::bundled_model(model_name));
  const json golden = load_golden(model_name);
  ASSERT_GE(golden["cases"].size(), 5u);
  for (const json& c : golden["cases"]) {
    const std::vector<TokenId> tokens = c["tokens"].get<std::vector<TokenId>>();
    SCOPED_TRACE(model_name + ", case of " + std::to_string(tokens.size()) + " tokens");
    const std::vector<std::vector<TokenId>> one{tokens};
    const Matrix logits = forward(model, TokenBatch::from_sequences(one));
    const auto T = static_cast<Eigen::Index>(tokens.size());
    for (int k = 0; k < 2; ++k) {
      const auto expected = c["last2_logits_first16"][k].get<std::vector<double>>();
      for (std::size_t j = 0; j < expected.size(); ++j) {
        EXPECT_NEAR(logits(T - 2 + k, static_cast<Eigen::Index>(j)), expected[j], 1e-4) << "logit " << j;
      }
    }
    Eigen::Index argmax = 0;
    logits.row(T - 1).maxCoeff(&argmax);
    EXPECT_EQ(argmax, c["last_argmax"].get<int>());
    EXPECT_NEAR(logits.row(T - 1).maxCoeff(), c["last_logit_max"].get<double>(), 1e-4);
    EXPECT_NEAR(logsumexp(&logits(T - 1, 0), logits.cols()), c["last_logsumexp"].get<double>(), 1e-4);
    double ce = 0;
    for (Eigen::Index t = 0; t + 1 < T; ++t) ce += logsumexp(&logits(t, 0), logits.cols()) - logits(t, tokens[t + 1]);
    ce /= static_cast<double>(T - 1);
    const double expected_ce = c["mean_ce_nats"].get<double>();
    EXPECT_NEAR(ce, expected_ce, 1e-5 * std::abs(expected_ce)) << "mean cross-entropy";
  }
}

TEST(ForwardGolden, Stories260KMatchesReferenceLogits) { check_golden("stories260K"); }

// TinyStories-656K stores only lm_head.weight (tied): the loader must take the embedding from it.
TEST(ForwardGolden, TinyStories656KMatchesReferenceLogits) { check_golden("TinyStories-656K"); }

TEST(Forward, PaddedBatchEqualsSequencesAlone) {
  const Model model = Model::load(testing::bundled_model("stories260K"));
  const std::vector<std::vector<TokenId>> sequences{{1, 403, 407, 261, 378}, {1, 403, 407}, {1, 20, 30, 40, 50, 60, 70}};
  const TokenBatch batch = TokenBatch::from_sequences(sequences);
  const Matrix together = forward(model, batch);
  for (int b = 0; b < batch.batch; ++b) {
    const std::vector<std::vector<TokenId>> one{sequences[static_cast<std::size_t>(b)]};
    const Matrix alone = forward(model, TokenBatch::from_sequences(one));
    for (Eigen::Index t = 0; t < alone.rows(); ++t) {
      EXPECT_LT((together.row(b * batch.length + t) - alone.row(t)).cwiseAbs().maxCoeff(), 1e-4);
    }
  }
}

TEST(Forward, KvCacheDecodingEqualsFullForward) {
  const Model model = Model::load(testing::bundled_model("stories260K"));
  const std::vector<TokenId> tokens{1, 403, 407, 261, 378, 432, 383, 286, 261};
  const std::vector<std::vector<TokenId>> one{tokens};
  const Matrix full = forward(model, TokenBatch::from_sequences(one));
  KvCache cache(model.config, 64);
  // A prompt of 4 tokens at once, then one token at a time.
  Matrix last = forward_incremental(model, std::span(tokens).first(4), cache);
  EXPECT_LT((last.row(0) - full.row(3)).cwiseAbs().maxCoeff(), 1e-4);
  for (std::size_t t = 4; t < tokens.size(); ++t) {
    last = forward_incremental(model, std::span(tokens).subspan(t, 1), cache);
    EXPECT_LT((last.row(0) - full.row(static_cast<Eigen::Index>(t))).cwiseAbs().maxCoeff(), 1e-4) << t;
  }
  EXPECT_EQ(cache.size(), static_cast<int>(tokens.size()));
}

TEST(Forward, TokenOutsideVocabularyIsAnError) {
  const Model model = Model::load(testing::bundled_model("stories260K"));
  const std::vector<std::vector<TokenId>> one{{1, 600}};
  EXPECT_THROW(forward(model, TokenBatch::from_sequences(one)), InvalidInput);
}

// Each fixture is checked to tell: with the config semantics under test
// undone, the logits move by far more than the tolerance.
constexpr double kTolerance = 1e-4;
constexpr double kMoved = 0.05;

TEST(ForwardConfigSemantics, Phi3MasksEveryLayerWithItsSlidingWindow) {
  const Model model = Model::load(semantics_fixture("phi3_sliding_window"));
  EXPECT_EQ(model.config.rms_norm_eps, 1e-5);  // Phi3Config's default; the config omits it
  EXPECT_LT(deviation_from_reference(model, "phi3_sliding_window"), kTolerance);
  Model full = model;
  full.config.sliding_window = 0;
  EXPECT_GT(deviation_from_reference(full, "phi3_sliding_window"), kMoved);
  Model other_eps = model;
  other_eps.config.rms_norm_eps = 1e-6;
  EXPECT_GT(deviation_from_reference(other_eps, "phi3_sliding_window"), kMoved);
}

TEST(ForwardConfigSemantics, Qwen2SlidesOnlyLayersFromMaxWindowLayers) {
  const Model model = Model::load(semantics_fixture("qwen2_sliding_layers"));
  EXPECT_EQ(model.config.rms_norm_eps, 1e-6);  // Qwen2Config's default
  EXPECT_EQ(model.config.attention_window(0), 0);
  EXPECT_EQ(model.config.attention_window(1), 3);
  EXPECT_LT(deviation_from_reference(model, "qwen2_sliding_layers"), kTolerance);
  Model every_layer = model;
  every_layer.config.sliding_layers.clear();
  EXPECT_GT(deviation_from_reference(every_layer, "qwen2_sliding_layers"), kMoved);
  Model no_layer = model;
  no_layer.config.sliding_window = 0;
  EXPECT_GT(deviation_from_reference(no_layer, "qwen2_sliding_layers"), kMoved);
  Model other_eps = model;
  other_eps.config.rms_norm_eps = 1e-5;
  EXPECT_GT(deviation_from_reference(other_eps, "qwen2_sliding_layers"), kMoved);
}

TEST(ForwardConfigSemantics, Qwen2WithoutUseSlidingWindowAttendsFully) {
  const Model model = Model::load(semantics_fixture("qwen2_window_unused"));
  EXPECT_EQ(model.config.sliding_window, 0);
  EXPECT_LT(deviation_from_reference(model, "qwen2_window_unused"), kTolerance);
  Model sliding = model;
  sliding.config.sliding_window = 3;
  EXPECT_GT(deviation_from_reference(sliding, "qwen2_window_unused"), kMoved);
}

TEST(ForwardConfigSemantics, MistralWindowAndLlama3RopeScaling) {
  const Model model = Model::load(semantics_fixture("mistral_llama3_rope"));
  EXPECT_EQ(model.config.num_kv_heads, 8);  // MistralConfig's default when the field is absent
  EXPECT_LT(deviation_from_reference(model, "mistral_llama3_rope"), kTolerance);
  Model unscaled = model;
  unscaled.config.rope_scaling = RopeScaling{};
  EXPECT_GT(deviation_from_reference(unscaled, "mistral_llama3_rope"), kMoved);
  Model full = model;
  full.config.sliding_window = 0;
  EXPECT_GT(deviation_from_reference(full, "mistral_llama3_rope"), kMoved);
}

TEST(ForwardConfigSemantics, LlamaRopeParametersHeadDimAndTiedHead) {
  const Model model = Model::load(semantics_fixture("llama_tied_rope_parameters"));
  EXPECT_EQ(model.config.head_dim, 12);
  EXPECT_EQ(model.config.sliding_window, 0);  // LlamaConfig has no window: the field is not read
  EXPECT_LT(deviation_from_reference(model, "llama_tied_rope_parameters"), kTolerance);
  Model unscaled = model;
  unscaled.config.rope_scaling = RopeScaling{};
  EXPECT_GT(deviation_from_reference(unscaled, "llama_tied_rope_parameters"), kMoved);
  Model sliding = model;
  sliding.config.sliding_window = 2;
  EXPECT_GT(deviation_from_reference(sliding, "llama_tied_rope_parameters"), kMoved);
}

// With window w in each of L layers, position p reads tokens p − L·(w − 1) .. p
// only: a token before that cannot change its logits, one inside does.
TEST(ForwardSlidingWindow, TokensBeforeTheReceptiveFieldDoNotReachAPosition) {
  const Model model = Model::load(semantics_fixture("phi3_sliding_window"));  // L = 2, w = 3
  const std::vector<TokenId> tokens{5, 11, 2, 19, 7, 3, 14, 9};
  const Matrix base = forward_one(model, tokens);
  std::vector<TokenId> outside = tokens;
  outside[2] = 20;  // 7 − 2·2 = 3 is the first token position 7 reads
  EXPECT_LT((forward_one(model, outside).row(7) - base.row(7)).cwiseAbs().maxCoeff(), 1e-6);
  std::vector<TokenId> inside = tokens;
  inside[3] = 20;
  EXPECT_GT((forward_one(model, inside).row(7) - base.row(7)).cwiseAbs().maxCoeff(), 1e-3);
}

TEST(ForwardSlidingWindow, SequencesWithinTheWindowEqualFullAttention) {
  const Model model = Model::load(semantics_fixture("phi3_sliding_window"));
  Model full = model;
  full.config.sliding_window = 0;
  const std::vector<TokenId> tokens{5, 11, 2};  // 3 = the window
  EXPECT_LT((forward_one(model, tokens) - forward_one(full, tokens)).cwiseAbs().maxCoeff(), 1e-6);
}

TEST(ForwardSlidingWindow, KvCacheDecodingKeepsEachLayersWindow) {
  const Model model = Model::load(semantics_fixture("qwen2_sliding_layers"));
  const std::vector<TokenId> tokens{3, 17, 8, 21, 0, 12, 6, 9, 15, 4};
  const Matrix full = forward_one(model, tokens);
  KvCache cache(model.config, 16);
  Matrix last = forward_incremental(model, std::span(tokens).first(2), cache);
  for (std::size_t t = 2; t < tokens.size(); ++t) {
    last = forward_incremental(model, std::span(tokens).subspan(t, 1), cache);
    EXPECT_LT((last.row(0) - full.row(static_cast<Eigen::Index>(t))).cwiseAbs().maxCoeff(), 1e-4) << t;
  }
}

}  // namespace
}  // namespace lorafarm::engine
