// Finite-difference checks of the kernels the newer families add: per-head
// q/k RMSNorm, Gemma's (1 + w) RMSNorm, the GELU-tanh gate, soft-capped
// attention scores and soft-capped final logits (tolerances in gradient_check.h).
#include <gtest/gtest.h>

#include <cmath>

#include "engine/activation.h"
#include "engine/gradient_check.h"
#include "engine/norms.h"
#include "engine/ops.h"
#include "engine/ops_backward.h"

namespace lorafarm::engine {
namespace {

using namespace testing_support;

TEST(HeadRmsNormBackward, EachHeadNormedOnItsOwnMatchesFiniteDifferences) {
  const int heads = 3, d = 4;
  Matrix x = random_matrix(5, heads * d, 1.0f, 1);
  Vector w = Vector::Ones(d) + Vector(random_matrix(d, 1, 0.3f, 2));
  const Matrix r = random_matrix(5, heads * d, 1.0f, 3);
  auto loss = [&] {
    Matrix y = x;
    head_rms_norm(y, heads, w, 1e-6f);
    return projected(y, r);
  };
  Matrix y = x;
  Vector inv, dw = Vector::Zero(d);
  head_rms_norm(y, heads, w, 1e-6f, &inv);
  // Independent of the kernel: head 1 of row 2 is x / rms(x) ⊙ w.
  const Eigen::RowVectorXf slice = x.row(2).segment(d, d);
  const float rms = std::sqrt(slice.squaredNorm() / d + 1e-6f);
  for (int i = 0; i < d; ++i) EXPECT_NEAR(y(2, d + i), slice(i) / rms * w(i), 1e-5);
  Matrix dx = r;
  head_rms_norm_backward(x, heads, w, inv, dx, &dw);
  expect_gradient(span_of(x), cspan_of(dx), loss, "dx", 30);
  expect_gradient(span_of(w), cspan_of(dw), loss, "dweight", d);
}

TEST(PlusOneRmsNormBackward, GradientOfTheStoredWeightMatchesFiniteDifferences) {
  ModelConfig gemma;
  gemma.norm_plus_one = true;
  Matrix x = random_matrix(4, 10, 1.0f, 4);
  Vector w = random_matrix(10, 1, 0.2f, 5);  // stored around 0: the scale is 1 + w
  const Matrix r = random_matrix(4, 10, 1.0f, 6);
  auto loss = [&] {
    Matrix y;
    rms_norm(x, norm_scale(gemma, w), 1e-6f, y);
    return projected(y, r);
  };
  EXPECT_FLOAT_EQ(norm_scale(gemma, w)(3), 1.0f + w(3));
  Matrix y, dx;
  Vector inv, dw = Vector::Zero(10);
  rms_norm(x, norm_scale(gemma, w), 1e-6f, y, &inv);
  rms_norm_backward(x, norm_scale(gemma, w), inv, r, dx, &dw);
  expect_gradient(span_of(x), cspan_of(dx), loss, "dx", 20);
  expect_gradient(span_of(w), cspan_of(dw), loss, "dweight", 10);
}

TEST(GeluTanhGate, ValuesAndBackwardMatchFiniteDifferences) {
  Matrix g = random_matrix(4, 9, 2.0f, 20);
  Matrix u = random_matrix(4, 9, 1.0f, 21);
  const Matrix r = random_matrix(4, 9, 1.0f, 22);
  Matrix a;
  gelu_tanh_gate(g, u, a);
  // gelu_tanh(1) = 0.5 (1 + tanh(√(2/π)·1.044715)) = 0.8411919906082768 (hand-evaluated).
  Matrix one = Matrix::Ones(1, 1), out;
  gelu_tanh_gate(one, one, out);
  EXPECT_NEAR(out(0, 0), 0.8411919906082768, 1e-6);
  auto loss = [&] {
    Matrix act;
    gelu_tanh_gate(g, u, act);
    return projected(act, r);
  };
  Matrix dg, du;
  gelu_tanh_gate_backward(g, u, r, dg, du);
  expect_gradient(span_of(g), cspan_of(dg), loss, "dgate", 36);
  expect_gradient(span_of(u), cspan_of(du), loss, "dup", 36);
}

TEST(SoftCappedAttentionBackward, MatchesFiniteDifferences) {
  const int heads = 4, kv_heads = 2, d = 4, n = 6;
  // Large q, k so that scores reach the cap's curved region.
  Matrix q = random_matrix(n, heads * d, 2.0f, 30);
  Matrix k = random_matrix(n, kv_heads * d, 2.0f, 31);
  Matrix v = random_matrix(n, kv_heads * d, 1.0f, 32);
  const Matrix r = random_matrix(n, heads * d, 1.0f, 33);
  const ScoreOptions capped{0.3f, 2.0f};
  auto loss = [&] {
    Matrix out;
    causal_attention(q, k, v, heads, kv_heads, 0, 4, out, nullptr, capped);
    return projected(out, r);
  };
  Matrix out, uncapped;
  std::vector<Matrix> probs;
  causal_attention(q, k, v, heads, kv_heads, 0, 4, out, &probs, capped);
  causal_attention(q, k, v, heads, kv_heads, 0, 4, uncapped, nullptr, {0.3f, 0.0f});
  EXPECT_GT((out - uncapped).cwiseAbs().maxCoeff(), 1e-2);  // the cap changes the result
  Matrix dq(n, heads * d), dk(n, kv_heads * d), dv(n, kv_heads * d);
  causal_attention_backward(q, k, v, probs, r, heads, kv_heads, dq, dk, dv, capped);
  expect_gradient(span_of(q), cspan_of(dq), loss, "dq", 40);
  expect_gradient(span_of(k), cspan_of(dk), loss, "dk", 40);
  expect_gradient(span_of(v), cspan_of(dv), loss, "dv", 40);
}

TEST(SoftCappedHeadCrossEntropy, LossAndGradientsMatchAReference) {
  Matrix x = random_matrix(5, 8, 1.0f, 40);
  Matrix head = random_matrix(11, 8, 1.5f, 41);
  const std::vector<TokenId> targets = {3, 0, 10, 7, 7};
  const std::vector<float> weights = {1, 0, 1, 0.5f, 1};
  const float cap = 1.5f;
  // Reference loss in double: Σ w (logsumexp(c tanh(l/c)) − c tanh(l_t/c)).
  double expected = 0;
  for (int row = 0; row < 5; ++row) {
    if (weights[row] == 0) continue;
    double m = -1e30, s = 0;
    std::vector<double> capped(11);
    for (int j = 0; j < 11; ++j) {
      capped[j] = cap * std::tanh(x.row(row).cast<double>().dot(head.row(j).cast<double>()) / cap);
      m = std::max(m, capped[j]);
    }
    for (double c : capped) s += std::exp(c - m);
    expected += weights[row] * (std::log(s) + m - capped[targets[row]]);
  }
  auto loss = [&] { return head_cross_entropy(x, head, targets, weights, 1.0f, nullptr, nullptr, cap); };
  EXPECT_NEAR(loss(), expected, 1e-5);
  Matrix dx, dhead = Matrix::Zero(11, 8);
  head_cross_entropy(x, head, targets, weights, 1.0f, &dx, &dhead, cap);
  expect_gradient(span_of(x), cspan_of(dx), loss, "dx", 40);
  expect_gradient(span_of(head), cspan_of(dhead), loss, "dhead", 40);
}

}  // namespace
}  // namespace lorafarm::engine
