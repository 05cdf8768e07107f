// Finite-difference checks of every backward kernel and of the LoRA / DoRA /
// full linear layer (tolerances justified in gradient_check.h).
#include "engine/ops_backward.h"

#include <gtest/gtest.h>

#include <random>

#include "engine/gradient_check.h"
#include "engine/lora_linear.h"

namespace lorafarm::engine {
namespace {

using namespace testing_support;

TEST(RmsNormBackward, MatchesFiniteDifferences) {
  Matrix x = random_matrix(5, 16, 1.0f, 1);
  Vector w = Vector::Ones(16) + random_matrix(16, 1, 0.3f, 2);
  const Matrix r = random_matrix(5, 16, 1.0f, 3);
  auto loss = [&] {
    Matrix y;
    rms_norm(x, w, 1e-5f, y);
    return projected(y, r);
  };
  Matrix y, dx;
  Vector inv, dw = Vector::Zero(16);
  rms_norm(x, w, 1e-5f, y, &inv);
  rms_norm_backward(x, w, inv, r, dx, &dw);
  expect_gradient(span_of(x), cspan_of(dx), loss, "dx", 30);
  expect_gradient(span_of(w), cspan_of(dw), loss, "dweight", 16);
}

TEST(RopeBackward, IsTheInverseRotationOfTheGradient) {
  ModelConfig c = preset_config("tiny");
  const RopeTable table = make_rope_table(c, 8);
  Matrix x = random_matrix(6, 2 * c.head_dim, 1.0f, 4);
  const Matrix r = random_matrix(6, 2 * c.head_dim, 1.0f, 5);
  const std::vector<int> positions = {0, 1, 2, 5, 6, 7};
  auto loss = [&] {
    Matrix y = x;
    apply_rope(y, 2, table, positions);
    return projected(y, r);
  };
  Matrix dx = r;
  apply_rope_backward(dx, 2, table, positions);
  expect_gradient(span_of(x), cspan_of(dx), loss, "dx", 40);
}

void check_attention(int window) {
  const int heads = 4, kv_heads = 2, d = 4, n = 7;
  Matrix q = random_matrix(n, heads * d, 1.0f, 10);
  Matrix k = random_matrix(n, kv_heads * d, 1.0f, 11);
  Matrix v = random_matrix(n, kv_heads * d, 1.0f, 12);
  const Matrix r = random_matrix(n, heads * d, 1.0f, 13);
  auto loss = [&] {
    Matrix out;
    causal_attention(q, k, v, heads, kv_heads, 0, window, out);
    return projected(out, r);
  };
  Matrix out;
  std::vector<Matrix> probs;
  causal_attention(q, k, v, heads, kv_heads, 0, window, out, &probs);
  Matrix dq(n, heads * d), dk(n, kv_heads * d), dv(n, kv_heads * d);
  causal_attention_backward(q, k, v, probs, r, heads, kv_heads, dq, dk, dv);
  expect_gradient(span_of(q), cspan_of(dq), loss, "dq", 40);
  expect_gradient(span_of(k), cspan_of(dk), loss, "dk", 40);
  expect_gradient(span_of(v), cspan_of(dv), loss, "dv", 40);
}

TEST(AttentionBackward, GroupedQueryCausalMatchesFiniteDifferences) { check_attention(0); }
TEST(AttentionBackward, SlidingWindowMatchesFiniteDifferences) { check_attention(3); }

TEST(SwigluBackward, MatchesFiniteDifferences) {
  Matrix g = random_matrix(4, 9, 2.0f, 20);
  Matrix u = random_matrix(4, 9, 1.0f, 21);
  const Matrix r = random_matrix(4, 9, 1.0f, 22);
  auto loss = [&] {
    Matrix a;
    swiglu(g, u, a);
    return projected(a, r);
  };
  Matrix dg, du;
  swiglu_backward(g, u, r, dg, du);
  expect_gradient(span_of(g), cspan_of(dg), loss, "dgate", 36);
  expect_gradient(span_of(u), cspan_of(du), loss, "dup", 36);
}

void check_head(Eigen::Index rows) {
  const Eigen::Index vocab = 11, hidden = 6;
  Matrix x = random_matrix(rows, hidden, 1.0f, 30);
  Matrix head = random_matrix(vocab, hidden, 1.0f, 31);
  std::vector<TokenId> targets(static_cast<std::size_t>(rows));
  std::vector<float> weights(static_cast<std::size_t>(rows));
  for (Eigen::Index r = 0; r < rows; ++r) {
    targets[static_cast<std::size_t>(r)] = static_cast<TokenId>((r * 7) % vocab);
    weights[static_cast<std::size_t>(r)] = r % 3 == 1 ? 0.0f : 1.0f;  // some rows masked
  }
  auto loss = [&] { return head_cross_entropy(x, head, targets, weights, 1.0f, nullptr, nullptr); };
  Matrix dx, dhead = Matrix::Zero(vocab, hidden);
  const double value = head_cross_entropy(x, head, targets, weights, 1.0f, &dx, &dhead);
  EXPECT_NEAR(value, loss(), 1e-9);
  // The value itself against a direct log-softmax in double.
  double reference = 0;
  for (Eigen::Index r = 0; r < rows; ++r) {
    if (weights[static_cast<std::size_t>(r)] == 0) continue;
    const Eigen::VectorXd logits = (head * x.row(r).transpose()).cast<double>();
    reference += std::log(logits.array().exp().sum()) - logits(targets[static_cast<std::size_t>(r)]);
  }
  EXPECT_NEAR(value, reference, 1e-4 * std::abs(reference));
  expect_gradient(span_of(x), cspan_of(dx), loss, "dx", 30);
  expect_gradient(span_of(head), cspan_of(dhead), loss, "dhead", 30);
}

TEST(HeadCrossEntropyBackward, MatchesFiniteDifferences) { check_head(7); }
TEST(HeadCrossEntropyBackward, ChunkedRowsMatchFiniteDifferences) { check_head(300); }

TEST(EmbeddingBackward, ScatterAddsRepeatedIds) {
  Matrix embedding = random_matrix(5, 3, 1.0f, 40);
  const std::vector<TokenId> ids = {2, 0, 2, 4};
  const Matrix r = random_matrix(4, 3, 1.0f, 41);
  auto loss = [&] {
    Matrix x(4, 3);
    for (int i = 0; i < 4; ++i) x.row(i) = embedding.row(ids[static_cast<std::size_t>(i)]);
    return projected(x, r);
  };
  Matrix grad = Matrix::Zero(5, 3);
  embedding_backward(ids, r, grad);
  expect_gradient(span_of(embedding), cspan_of(grad), loss, "dembedding", 15);
}

struct LinearFixture {
  Linear base;
  Matrix x;
  Matrix r;
  LinearFixture() {
    base.weight = random_matrix(6, 5, 0.5f, 50);
    base.bias = random_matrix(6, 1, 0.5f, 51);
    x = random_matrix(4, 5, 1.0f, 52);
    r = random_matrix(4, 6, 1.0f, 53);
  }
};

ParamRef find(std::vector<ParamRef>& params, const std::string& suffix) {
  for (ParamRef& p : params) {
    if (p.name.size() >= suffix.size() && p.name.compare(p.name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      return p;
    }
  }
  ADD_FAILURE() << "no parameter " << suffix;
  return {};
}

void check_adapted(float dropout) {
  LinearFixture f;
  AdaptedLinear layer(f.base);
  std::mt19937_64 rng(1);
  layer.add_adapter({3, 2.0f, dropout, false}, rng);
  layer.lora_b() = random_matrix(3, 6, 0.5f, 54);  // B starts at zero; make dA visible
  auto loss = [&] {
    Matrix y;
    AdaptedLinear::Cache cache;
    layer.forward(f.x, y, &cache, 99);
    return projected(y, f.r);
  };
  Matrix y;
  AdaptedLinear::Cache cache;
  layer.forward(f.x, y, &cache, 99);
  Matrix dx = Matrix::Zero(4, 5);
  layer.backward(f.x, cache, f.r, &dx);
  std::vector<ParamRef> params;
  layer.collect_parameters("l", params);
  ASSERT_EQ(params.size(), 2u);
  expect_gradient(find(params, ".lora_a").values(), find(params, ".lora_a").grads(), loss, "dA", 15);
  expect_gradient(find(params, ".lora_b").values(), find(params, ".lora_b").grads(), loss, "dB", 18);
  expect_gradient(span_of(f.x), cspan_of(dx), loss, "dx", 20);
}

TEST(LoraLinearBackward, MatchesFiniteDifferences) { check_adapted(0.0f); }
TEST(LoraLinearBackward, WithDropoutMatchesFiniteDifferencesForAFixedMask) { check_adapted(0.5f); }

TEST(LoraLinear, StartsAsTheBaseLayerWithMlxInitialisation) {
  LinearFixture f;
  AdaptedLinear layer(f.base);
  std::mt19937_64 rng(3);
  layer.add_adapter({4, 20.0f, 0.0f, false}, rng);
  EXPECT_TRUE(layer.lora_b().isZero());
  const float bound = 1.0f / std::sqrt(5.0f);
  EXPECT_LE(layer.lora_a().cwiseAbs().maxCoeff(), bound);
  EXPECT_GT(layer.lora_a().cwiseAbs().maxCoeff(), 0.5f * bound);
  Matrix y, expected;
  layer.forward(f.x, y, nullptr, std::nullopt);
  f.base.forward(f.x, expected);
  EXPECT_TRUE(y.isApprox(expected, 1e-6f));
}

TEST(DoraLinearBackward, MagnitudeAndAdapterMatchFiniteDifferencesWithConstantNorm) {
  LinearFixture f;
  AdaptedLinear layer(f.base);
  std::mt19937_64 rng(2);
  layer.add_adapter({3, 2.0f, 0.0f, true}, rng);
  EXPECT_TRUE(layer.magnitude().isApprox(f.base.weight.rowwise().norm()));
  layer.lora_b() = random_matrix(3, 6, 0.5f, 55);
  layer.magnitude() += random_matrix(6, 1, 0.2f, 56);

  Matrix y;
  AdaptedLinear::Cache cache;
  layer.forward(f.x, y, &cache, std::nullopt);
  // The reference with the row norm held at its current value (stop-gradient).
  const Vector norm0 = (f.base.weight + 2.0f * (layer.lora_a() * layer.lora_b()).transpose()).rowwise().norm();
  auto loss = [&] {
    Matrix z = f.x * f.base.weight.transpose() + 2.0f * f.x * layer.lora_a() * layer.lora_b();
    z.array().rowwise() *= layer.magnitude().cwiseQuotient(norm0).transpose().array();
    z.rowwise() += f.base.bias.transpose();
    return projected(z, f.r);
  };
  EXPECT_NEAR(projected(y, f.r), loss(), 1e-4);
  Matrix dx = Matrix::Zero(4, 5);
  layer.backward(f.x, cache, f.r, &dx);
  std::vector<ParamRef> params;
  layer.collect_parameters("l", params);
  ASSERT_EQ(params.size(), 3u);
  expect_gradient(find(params, ".m").values(), find(params, ".m").grads(), loss, "dm", 6);
  expect_gradient(find(params, ".lora_a").values(), find(params, ".lora_a").grads(), loss, "dA", 15);
  expect_gradient(find(params, ".lora_b").values(), find(params, ".lora_b").grads(), loss, "dB", 18);
  expect_gradient(span_of(f.x), cspan_of(dx), loss, "dx", 20);
}

TEST(FullLinearBackward, WeightBiasAndInputMatchFiniteDifferences) {
  LinearFixture f;
  AdaptedLinear layer(f.base);
  layer.make_trainable();
  auto loss = [&] {
    Matrix y;
    layer.forward(f.x, y, nullptr, std::nullopt);
    return projected(y, f.r);
  };
  Matrix y;
  AdaptedLinear::Cache cache;
  layer.forward(f.x, y, &cache, std::nullopt);
  Matrix dx = Matrix::Zero(4, 5);
  layer.backward(f.x, cache, f.r, &dx);
  std::vector<ParamRef> params;
  layer.collect_parameters("l", params);
  ASSERT_EQ(params.size(), 2u);
  expect_gradient(find(params, ".weight").values(), find(params, ".weight").grads(), loss, "dW", 20);
  expect_gradient(find(params, ".bias").values(), find(params, ".bias").grads(), loss, "db", 6);
  expect_gradient(span_of(f.x), cspan_of(dx), loss, "dx", 20);
}

TEST(DropoutMask, KeepsAboutOneMinusPAndIsReproducible) {
  const Matrix a = dropout_mask(100, 100, 0.25f, 5);
  const Matrix b = dropout_mask(100, 100, 0.25f, 5);
  const Matrix c = dropout_mask(100, 100, 0.25f, 6);
  EXPECT_TRUE(a == b);
  EXPECT_FALSE(a == c);
  const double kept = (a.array() > 0).cast<double>().mean();
  EXPECT_NEAR(kept, 0.75, 0.02);
  EXPECT_FLOAT_EQ(a.maxCoeff(), 1.0f / 0.75f);
}

}  // namespace
}  // namespace lorafarm::engine
