// The forward pass against the golden logits shipped with the bundled models
// (float64 reference forward passes; see each model's README).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/forward.h"
#include "engine/model.h"
#include "test_support.h"

namespace lorafarm::engine {
namespace {

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

}  // namespace
}  // namespace lorafarm::engine
