// bf16 mixed-precision products (engine/precision.h): the packed bf16 kernel
// against a float64 product of the bf16-rounded inputs (rounded here by
// Eigen::bfloat16, not by the engine), and the setting's parsing.
#include <gtest/gtest.h>
#include <omp.h>

#include <array>
#include <cmath>
#include <cstring>
#include <random>

#include "engine/error.h"
#include "engine/gemm.h"
#include "engine/ops.h"
#include "engine/precision.h"

namespace lorafarm::engine {
namespace {

Matrix random_matrix(Eigen::Index rows, Eigen::Index cols, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  Matrix x(rows, cols);
  for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = u(rng);
  return x;
}

Eigen::MatrixXd bf16_rounded(const Matrix& m, bool transpose) {
  Eigen::MatrixXd d(m.rows(), m.cols());
  for (Eigen::Index i = 0; i < m.rows(); ++i)
    for (Eigen::Index j = 0; j < m.cols(); ++j) d(i, j) = double(float(Eigen::bfloat16(m(i, j))));
  if (transpose) d.transposeInPlace();
  return d;
}

// Shapes the packed kernel takes (every thread's block at least 24×64×32):
// partial tiles, odd k (a half-empty last pair), k beyond one 512-deep pass,
// n beyond one 1024-column block, and a long k split over threads.
const std::array<std::array<Eigen::Index, 3>, 6> kShapes = {
    {{24, 64, 32}, {25, 65, 33}, {100, 70, 301}, {193, 97, 1031}, {37, 1030, 64}, {64, 64, 600}}};

TEST(GemmBf16, EqualsAFloat64ProductOfTheBf16RoundedInputs) {
  if (!bf16_products_supported()) GTEST_SKIP() << "this CPU has no AVX-512 BF16";
  const ScopedPrecision bf16(Precision::kBF16);
  std::mt19937 rng(3);
  for (const auto& [m, n, k] : kShapes) {
    for (int flags = 0; flags < 4; ++flags) {
      const bool ta = flags & 1, tb = flags & 2;
      const Matrix a = ta ? random_matrix(k, m, rng) : random_matrix(m, k, rng);
      const Matrix b = tb ? random_matrix(n, k, rng) : random_matrix(k, n, rng);
      const Matrix c0 = random_matrix(m, n, rng);
      for (const float beta : {0.0f, 1.0f}) {
        Matrix c = c0;
        gemm(a, ta, b, tb, c, 0.5f, beta);
        const Eigen::MatrixXd want = 0.5 * bf16_rounded(a, ta) * bf16_rounded(b, tb) + double(beta) * c0.cast<double>();
        // Products of bf16 values are exact in fp32; only the fp32 sums round (≈ √k·ε growth).
        const double tolerance = 1e-5 * std::sqrt(double(k)) * 4;
        EXPECT_LT((c.cast<double>() - want).cwiseAbs().maxCoeff(), tolerance)
            << m << "×" << n << "×" << k << " ta=" << ta << " tb=" << tb << " beta=" << beta;
        // ... and the inputs really were rounded: the full-precision product is further away.
        const Eigen::MatrixXd exact = 0.5 * (ta ? Eigen::MatrixXd(a.cast<double>().transpose()) : a.cast<double>()) *
                                          (tb ? Eigen::MatrixXd(b.cast<double>().transpose()) : b.cast<double>()) +
                                      double(beta) * c0.cast<double>();
        EXPECT_GT((c.cast<double>() - exact).cwiseAbs().maxCoeff(), tolerance);
      }
    }
  }
}

TEST(GemmBf16, A16BitWeightOperandTakesTheSamePath) {
  if (!bf16_products_supported()) GTEST_SKIP() << "this CPU has no AVX-512 BF16";
  const ScopedPrecision bf16(Precision::kBF16);
  std::mt19937 rng(5);
  const Matrix x = random_matrix(96, 256, rng), w = random_matrix(300, 256, rng);
  HalfMatrix half{HalfType::kBF16, w.rows(), w.cols(), {}};
  for (Eigen::Index i = 0; i < w.size(); ++i) {
    const Eigen::bfloat16 h(w.data()[i]);
    uint16_t bits;
    std::memcpy(&bits, &h, 2);
    half.bits.push_back(bits);
  }
  Matrix y;
  weight_matmul(x, false, half, true, y);
  const Eigen::MatrixXd want = bf16_rounded(x, false) * bf16_rounded(w, true);
  EXPECT_LT((y.cast<double>() - want).cwiseAbs().maxCoeff(), 1e-5 * 16 * 4);
}

// A weight prepacked once (the vocabulary head over its row chunks) gives the
// float64 product of the bf16-rounded inputs on one thread and split over
// two: by rows, by columns (the split then starts on a 32-column panel) and
// by depth (on a 512-deep block). Unless split by depth, whose partial sums
// then start elsewhere, it gives the very bits of packing it per product.
TEST(GemmBf16, APrepackedWeightGivesTheProductOfPackingItPerCall) {
  if (!bf16_products_supported()) GTEST_SKIP() << "this CPU has no AVX-512 BF16";
  const ScopedPrecision bf16(Precision::kBF16);
  std::mt19937 rng(11);
  // {rows of x, rows of w, cols of w}: n beyond one 1024-column run and not a
  // multiple of 32; k beyond one 512-deep block and not a multiple of it.
  const std::array<std::array<Eigen::Index, 3>, 4> shapes = {
      {{200, 70, 64}, {48, 1100, 300}, {40, 1100, 96}, {30, 70, 1300}}};
  const int threads_before = omp_get_max_threads();
  for (const auto& [m, rows, cols] : shapes) {
    const Matrix w = random_matrix(rows, cols, rng);
    for (const bool tb : {true, false}) {
      const Matrix x = random_matrix(m, tb ? cols : rows, rng);
      const PackedWeight packed(w, tb);
      ASSERT_FALSE(packed.empty());
      // 2 bytes a value of op(w), k rounded up to pairs and n to 32-column panels (what the predictor counts).
      const Eigen::Index k = tb ? cols : rows, n = tb ? rows : cols;
      EXPECT_EQ(packed.bytes(), 4 * ((k + 1) / 2) * ((n + 31) / 32 * 32));
      const Eigen::MatrixXd want = bf16_rounded(x, false) * bf16_rounded(w, tb);
      for (const int threads : {1, 2}) {
        omp_set_num_threads(threads);
        Matrix per_call(m, tb ? rows : cols), prepacked(m, tb ? rows : cols);
        weight_gemm(x, false, w, tb, per_call);
        weight_gemm(x, false, w, tb, packed, prepacked);
        EXPECT_LT((prepacked.cast<double>() - want).cwiseAbs().maxCoeff(), 1e-5 * std::sqrt(double(x.cols())) * 4)
            << m << "×" << rows << "×" << cols << " tb=" << tb << " threads=" << threads;
        if (threads == 1 || k <= 4 * std::max(m, n)) {
          EXPECT_EQ(std::memcmp(per_call.data(), prepacked.data(), sizeof(float) * per_call.size()), 0)
              << m << "×" << rows << "×" << cols << " tb=" << tb << " threads=" << threads;
        }
      }
    }
  }
  omp_set_num_threads(threads_before);
}

TEST(GemmBf16, APrepackedWeightIsEmptyAndUnusedUnderFp32Products) {
  std::mt19937 rng(12);
  const Matrix w = random_matrix(300, 64, rng), x = random_matrix(40, 64, rng);
  const PackedWeight packed(w, true);
  EXPECT_TRUE(packed.empty());
  Matrix y(40, 300);
  weight_gemm(x, false, w, true, packed, y);
  EXPECT_LT((y.cast<double>() - x.cast<double>() * w.cast<double>().transpose()).cwiseAbs().maxCoeff(), 1e-4);
}

// Causal attention of one head in float64: out[t] = Σ_{s<=t} softmax(q_t·k_s/√d) v_s,
// and for each row t the bound on bf16's error derived below.
struct AttentionReference {
  Eigen::MatrixXd out, bound;
};

AttentionReference attention_reference(const Matrix& q, const Matrix& k, const Matrix& v) {
  const Eigen::Index n = q.rows(), d = q.cols();
  const double scale = 1.0 / std::sqrt(double(d)), u = std::ldexp(1.0, -8);  // bf16's unit roundoff
  AttentionReference r{Eigen::MatrixXd::Zero(n, d), Eigen::MatrixXd::Zero(n, d)};
  for (Eigen::Index t = 0; t < n; ++t) {
    Eigen::VectorXd s(t + 1), p(t + 1);
    double worst_score_error = 0;  // |Δs| <= scale·Σ|q||k|·(2u + u²): each operand rounded once
    for (Eigen::Index j = 0; j <= t; ++j) {
      s(j) = scale * q.row(t).cast<double>().dot(k.row(j).cast<double>());
      const double magnitude = scale * q.row(t).cast<double>().cwiseAbs().dot(k.row(j).cast<double>().cwiseAbs());
      worst_score_error = std::max(worst_score_error, magnitude * (2 * u + u * u));
    }
    p = (s.array() - s.maxCoeff()).exp();
    p /= p.sum();
    // Softmax moves each p by at most p·(e^{2E} − 1); P·V then rounds p and v once more.
    const double spread = std::exp(2 * worst_score_error);
    for (Eigen::Index c = 0; c < d; ++c) {
      const double weighted = p.dot(v.col(c).head(t + 1).cast<double>().cwiseAbs());
      r.out(t, c) = p.dot(v.col(c).head(t + 1).cast<double>());
      r.bound(t, c) = (spread - 1) * weighted + (2 * u + u * u) * spread * weighted + 1e-5;  // + fp32 sums
    }
  }
  return r;
}

TEST(GemmBf16, AttentionHeadsWideEnoughForThePackedKernelStayWithinBf16sBound) {
  // head_dim 64 and 96 positions: QKᵀ and P·V take the packed kernel.
  std::mt19937 rng(13);
  const Matrix q = random_matrix(96, 64, rng), k = random_matrix(96, 64, rng), v = random_matrix(96, 64, rng);
  const AttentionReference want = attention_reference(q, k, v);
  Matrix fp32_out;
  causal_attention(q, k, v, 1, 1, 0, 0, fp32_out);
  EXPECT_LT((fp32_out.cast<double>() - want.out).cwiseAbs().maxCoeff(), 1e-5);
  if (!bf16_products_supported()) GTEST_SKIP() << "this CPU has no AVX-512 BF16";
  const ScopedPrecision bf16(Precision::kBF16);
  Matrix out;
  causal_attention(q, k, v, 1, 1, 0, 0, out);
  const Eigen::MatrixXd error = (out.cast<double>() - want.out).cwiseAbs();
  EXPECT_TRUE((error.array() <= want.bound.array()).all()) << "worst excess " << (error - want.bound).maxCoeff();
  EXPECT_GT(error.maxCoeff(), 1e-5);  // the products really were bf16
}

TEST(GemmBf16, PrecisionNamesParseAndUnknownOnesAreNamed) {
  EXPECT_EQ(parse_precision("bf16"), Precision::kBF16);
  EXPECT_EQ(parse_precision("fp32"), Precision::kF32);
  EXPECT_STREQ(precision_name(Precision::kBF16), "bf16");
  try {
    parse_precision("fp8");
    FAIL() << "fp8 accepted";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("'fp8'"), std::string::npos);
  }
}

TEST(GemmBf16, Fp32ProductsAreUnchangedOutsideTheScope) {
  std::mt19937 rng(9);
  // Large enough that every thread's block takes the packed kernel.
  const Matrix a = random_matrix(128, 128, rng), b = random_matrix(128, 256, rng);
  Matrix before, inside, after;
  matmul(a, false, b, false, before);
  {
    const ScopedPrecision bf16(Precision::kBF16);
    matmul(a, false, b, false, inside);
  }
  matmul(a, false, b, false, after);
  EXPECT_EQ(product_precision(), Precision::kF32);
  EXPECT_TRUE(before == after);
  if (bf16_products_supported()) {
    EXPECT_FALSE(before == inside);
  }
}

}  // namespace
}  // namespace lorafarm::engine
