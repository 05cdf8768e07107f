// Quantization formats (MLX affine, bitsandbytes NF4): bit layouts on hand-made
// examples, error bounds, the fused products, and invalid settings.
#include "engine/quantization.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "engine/error.h"

namespace lorafarm::engine {
namespace {

using Mode = QuantizationConfig::Mode;

QuantizationConfig affine(int bits, int group_size) { return {Mode::kAffine, bits, group_size}; }
QuantizationConfig nf4(int group_size = 64) { return {Mode::kNf4, 4, group_size}; }

Matrix random_matrix(int64_t rows, int64_t cols, float stddev, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, stddev);
  Matrix m(rows, cols);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = normal(rng);
  return m;
}

template <typename F>
void expect_invalid(F&& f, const std::string& needle) {
  try {
    f();
    FAIL() << "expected InvalidInput mentioning '" << needle << "'";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(AffineQuantization, PacksFourBitValuesLowNibbleFirstAsMlx) {
  // w = k mod 16 · 0.1: |w_max| ≥ |w_min|, so MLX anchors the group at w_max
  // with a negative scale: bias 1.5, scale −0.1, q = 15 − (k mod 16).
  Matrix w(1, 32);
  for (int k = 0; k < 32; ++k) w(0, k) = static_cast<float>(k % 16) * 0.1f;
  const QuantizedMatrix q = QuantizedMatrix::quantize(w, affine(4, 32));
  ASSERT_EQ(q.packed.size(), 4u);
  EXPECT_EQ(q.packed[0], 0x89ABCDEFu);
  EXPECT_EQ(q.packed[1], 0x01234567u);
  EXPECT_EQ(q.packed[2], 0x89ABCDEFu);
  EXPECT_EQ(q.packed[3], 0x01234567u);
  ASSERT_EQ(q.scales.size(), 1u);
  EXPECT_FLOAT_EQ(q.scales[0], -0.1f);
  EXPECT_FLOAT_EQ(q.biases[0], 1.5f);

  // Mirrored weights: the minimum is the edge, the scale positive.
  const QuantizedMatrix m = QuantizedMatrix::quantize(-w, affine(4, 32));
  EXPECT_EQ(m.packed[0], 0x89ABCDEFu);
  EXPECT_EQ(m.packed[1], 0x01234567u);
  EXPECT_FLOAT_EQ(m.scales[0], 0.1f);
  EXPECT_FLOAT_EQ(m.biases[0], -1.5f);
}

TEST(AffineQuantization, PacksEightBitValuesFourPerWord) {
  // w = 0..30 and 255: scale −1, bias 255, q = 255 − w.
  Matrix w(1, 32);
  for (int k = 0; k < 31; ++k) w(0, k) = static_cast<float>(k);
  w(0, 31) = 255.0f;
  const QuantizedMatrix q = QuantizedMatrix::quantize(w, affine(8, 32));
  ASSERT_EQ(q.packed.size(), 8u);
  EXPECT_EQ(q.packed[0], 0xFCFDFEFFu);
  EXPECT_EQ(q.packed[1], 0xF8F9FAFBu);
  EXPECT_EQ(q.packed[7], 0x00E1E2E3u);
  EXPECT_FLOAT_EQ(q.scales[0], -1.0f);
  EXPECT_FLOAT_EQ(q.biases[0], 255.0f);
  EXPECT_EQ(q.dequantize(), w);
}

TEST(AffineQuantization, ErrorIsHalfAStepInsideTheRangeAndAtMostOneStepAtTheClippedEdge) {
  const Matrix w = random_matrix(48, 256, 0.02f, 7);
  for (int bits : {4, 8}) {
    for (int gs : {32, 64, 128}) {
      const QuantizedMatrix q = QuantizedMatrix::quantize(w, affine(bits, gs));
      const Matrix d = q.dequantize();
      const float n_bins = static_cast<float>((1 << bits) - 1);
      int inside = 0;
      for (int64_t r = 0; r < w.rows(); ++r) {
        for (int64_t g = 0; g < w.cols() / gs; ++g) {
          const auto group = w.row(r).segment(g * gs, gs);
          const float step = (group.maxCoeff() - group.minCoeff()) / n_bins;
          const float scale = q.scales[r * (w.cols() / gs) + g], bias = q.biases[r * (w.cols() / gs) + g];
          const float lo = std::min(bias, bias + scale * n_bins), hi = std::max(bias, bias + scale * n_bins);
          for (int64_t i = g * gs; i < (g + 1) * gs; ++i) {
            const float err = std::abs(w(r, i) - d(r, i));
            EXPECT_LE(err, step * (1 + 1e-5f)) << "bits " << bits << " gs " << gs;
            if (w(r, i) >= lo && w(r, i) <= hi) {
              ++inside;
              EXPECT_LE(err, std::abs(scale) / 2 * (1 + 1e-4f)) << "bits " << bits << " gs " << gs;
            }
          }
        }
      }
      EXPECT_GT(inside, w.size() * 9 / 10);
    }
  }
}

TEST(AffineQuantization, ZeroLandsOnACodeUpToFloatRounding) {
  Matrix w = random_matrix(4, 64, 0.02f, 3);
  w(0, 5) = 0.0f;
  w(2, 40) = 0.0f;
  const QuantizedMatrix q = QuantizedMatrix::quantize(w, affine(4, 64));
  const Matrix d = q.dequantize();
  // bias = edge = −q0·scale, so scale·(−q0) + bias is 0 but for rounding.
  EXPECT_LE(std::abs(d(0, 5)), 4e-7f * std::abs(q.biases[0]));
  EXPECT_LE(std::abs(d(2, 40)), 4e-7f * std::abs(q.biases[2]));
  EXPECT_LT(std::abs(d(2, 40)), std::abs(q.scales[2]) * 1e-4f);
}

TEST(Nf4Quantization, CodeTableIsTheQloraTable) {
  const auto& code = nf4_code_table();
  EXPECT_EQ(code[0], -1.0f);
  EXPECT_FLOAT_EQ(code[1], -0.6961928009986877f);
  EXPECT_FLOAT_EQ(code[3], -0.39491748809814453f);
  EXPECT_EQ(code[7], 0.0f);
  EXPECT_FLOAT_EQ(code[8], 0.07958029955625534f);
  EXPECT_FLOAT_EQ(code[14], 0.7229568362236023f);
  EXPECT_EQ(code[15], 1.0f);
  for (int i = 1; i < 16; ++i) EXPECT_LT(code[i - 1], code[i]);
}

TEST(Nf4Quantization, DynamicMapHas127NegativesZeroAnd128Positives) {
  const auto& dyn = dynamic_code_table();
  for (int i = 1; i < 256; ++i) EXPECT_LT(dyn[i - 1], dyn[i]);
  EXPECT_EQ(dyn[127], 0.0f);
  EXPECT_EQ(dyn[255], 1.0f);
  EXPECT_FLOAT_EQ(dyn[128], 5.5e-7f);   // 10^-6 · mean(0.1, 1)
  EXPECT_FLOAT_EQ(dyn[126], -5.5e-7f);
  EXPECT_FLOAT_EQ(dyn[254], 0.99296875f);  // largest fraction of the 10^0 decade
}

TEST(Nf4Quantization, PacksTwoCodesPerByteHighNibbleFirst) {
  // w = 2 · nf4[i mod 16]: absmax 2, codes i mod 16, exact reconstruction.
  Matrix w(1, 64);
  for (int i = 0; i < 64; ++i) w(0, i) = 2.0f * nf4_code_table()[i % 16];
  const QuantizedMatrix q = QuantizedMatrix::quantize(w, nf4(64));
  ASSERT_EQ(q.codes.size(), 32u);
  const uint8_t expected[8] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF};
  for (int i = 0; i < 32; ++i) EXPECT_EQ(q.codes[i], expected[i % 8]) << i;
  EXPECT_FLOAT_EQ(q.absmax_offset, 2.0f);
  ASSERT_EQ(q.nested_absmax.size(), 1u);
  EXPECT_EQ(q.absmax_codes[0], 127);  // the centred absmax is 0
  EXPECT_EQ(q.dequantize(), w);
}

TEST(Nf4Quantization, ChoosesNearestCodesAndDequantizesWithTheDoubleQuantizedAbsmax) {
  const int64_t gs = 64;
  // 600 blocks: three 256-blocks of absmax values, the last one partial.
  const Matrix w = random_matrix(150, 256, 0.02f, 11);
  const QuantizedMatrix q = QuantizedMatrix::quantize(w, nf4(gs));
  const auto& code = nf4_code_table();
  const auto& dyn = dynamic_code_table();
  const int64_t gpr = w.cols() / gs, blocks = w.rows() * gpr;
  ASSERT_EQ(q.absmax_codes.size(), static_cast<std::size_t>(blocks));
  ASSERT_EQ(q.nested_absmax.size(), 3u);
  std::vector<float> absmax(blocks);
  for (int64_t b = 0; b < blocks; ++b) absmax[b] = w.row(b / gpr).segment((b % gpr) * gs, gs).cwiseAbs().maxCoeff();
  double mean = 0;
  for (float a : absmax) mean += a;
  EXPECT_NEAR(q.absmax_offset, mean / blocks, 1e-7);
  const Matrix d = q.dequantize();
  for (int64_t b = 0; b < blocks; ++b) {
    const float top = q.nested_absmax[b / 256];
    const float centred = (absmax[b] - q.absmax_offset) / top;
    const float chosen = std::abs(centred - dyn[q.absmax_codes[b]]);
    for (float c : dyn) EXPECT_LE(chosen, std::abs(centred - c) + 1e-6f);
    const float a_dq = dyn[q.absmax_codes[b]] * top + q.absmax_offset;
    const int64_t r = b / gpr;
    for (int64_t i = (b % gpr) * gs; i < (b % gpr + 1) * gs; ++i) {
      const int64_t flat = r * w.cols() + i;
      const uint8_t byte = q.codes[flat / 2];
      const int nibble = flat % 2 == 0 ? byte >> 4 : byte & 15;
      const float x = w(r, i) / absmax[b];
      for (float c : code) EXPECT_LE(std::abs(x - code[nibble]), std::abs(x - c) + 1e-6f);
      EXPECT_FLOAT_EQ(d(r, i), code[nibble] * a_dq);
    }
  }
  // Overall: within half the widest NF4 gap of the block's absmax, plus the absmax error.
  float half_gap = 0;
  for (int i = 1; i < 16; ++i) half_gap = std::max(half_gap, (code[i] - code[i - 1]) / 2);
  EXPECT_NEAR(half_gap, (1.0f - 0.6961928f) / 2, 1e-6f);  // the widest gap is between −1 and the next code
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t r = b / gpr;
    const float a_dq = dyn[q.absmax_codes[b]] * q.nested_absmax[b / 256] + q.absmax_offset;
    for (int64_t i = (b % gpr) * gs; i < (b % gpr + 1) * gs; ++i) {
      EXPECT_LE(std::abs(w(r, i) - d(r, i)), half_gap * absmax[b] + std::abs(absmax[b] - a_dq) + 1e-7f);
    }
  }
}

struct ProductCase {
  QuantizationConfig config;
  int64_t out, in;
};

TEST(QuantizedProduct, FusedProductsEqualDenseProductsWithTheDequantizedWeight) {
  // Sizes that leave partial tiles in both directions.
  const std::vector<ProductCase> cases = {
      {affine(4, 32), 200, 320}, {affine(4, 64), 130, 320}, {affine(4, 128), 300, 384},
      {affine(8, 64), 200, 320}, {nf4(64), 200, 320},       {nf4(32), 70, 96},
  };
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    for (const auto& c : cases) {
      const QuantizedMatrix q = QuantizedMatrix::quantize(random_matrix(c.out, c.in, 0.02f, 5), c.config);
      const Matrix w = q.dequantize();
      const Matrix x = random_matrix(37, c.in, 1.0f, 6);
      const Matrix dy = random_matrix(37, c.out, 1.0f, 8);
      Matrix y, dx;
      q.multiply_transposed(x, y);
      q.multiply(dy, dx);
      const Matrix y_ref = x * w.transpose();
      const Matrix dx_ref = dy * w;
      ASSERT_EQ(y.rows(), 37);
      ASSERT_EQ(y.cols(), c.out);
      ASSERT_EQ(dx.cols(), c.in);
      EXPECT_LE((y - y_ref).cwiseAbs().maxCoeff(), 1e-5f) << c.out << "x" << c.in << " threads " << threads;
      EXPECT_LE((dx - dx_ref).cwiseAbs().maxCoeff(), 1e-5f) << c.out << "x" << c.in << " threads " << threads;
    }
  }
  set_num_threads(0);
}

TEST(QuantizedProduct, RejectsAnInputOfTheWrongWidth) {
  const QuantizedMatrix q = QuantizedMatrix::quantize(random_matrix(8, 64, 0.02f, 1), affine(4, 64));
  Matrix y;
  expect_invalid([&] { q.multiply_transposed(Matrix::Zero(2, 63), y); }, "63");
  expect_invalid([&] { q.multiply(Matrix::Zero(2, 9), y); }, "9");
}

TEST(QuantizedMatrixMemory, HoldsOnlyPackedCodesAndConstants) {
  const Matrix w = random_matrix(256, 512, 0.02f, 2);
  const int64_t dense = w.size() * 4;
  const QuantizedMatrix q4 = QuantizedMatrix::quantize(w, affine(4, 64));
  const QuantizedMatrix q8 = QuantizedMatrix::quantize(w, affine(8, 64));
  const QuantizedMatrix n4 = QuantizedMatrix::quantize(w, nf4(64));
  // 4 bits + 2 float32 per 64 weights = 5 bits per weight; NF4: 4 + 8/64 bits
  // plus one float per 256 blocks.
  EXPECT_LE(q4.bytes(), dense * 5 / 32 + 64);
  EXPECT_LE(q8.bytes(), dense * 9 / 32 + 64);
  EXPECT_LE(n4.bytes(), dense * 33 / 256 + 64);
}

TEST(QuantizationConfigCheck, RejectsUnsupportedBitsAndGroupSizesNamingTheValue) {
  const Matrix w = random_matrix(4, 96, 0.02f, 1);
  expect_invalid([&] { QuantizedMatrix::quantize(w, affine(3, 32)); }, "bits 3");
  expect_invalid([&] { QuantizedMatrix::quantize(w, affine(2, 32)); }, "bits 2");
  expect_invalid([&] { QuantizedMatrix::quantize(w, affine(4, 48)); }, "group size 48");
  expect_invalid([&] { QuantizedMatrix::quantize(w, QuantizationConfig{Mode::kNf4, 8, 64}); }, "bits 8");
  expect_invalid([&] { validate_quantization(affine(4, 256)); }, "256");
}

TEST(QuantizationConfigCheck, AnInputDimensionThatIsNotAMultipleOfTheGroupSizeIsNotQuantizable) {
  EXPECT_FALSE(is_quantizable(172, affine(4, 64)));  // stories260K's down_proj
  EXPECT_TRUE(is_quantizable(64, affine(4, 64)));
  EXPECT_FALSE(is_quantizable(96, affine(4, 64)));
  EXPECT_TRUE(is_quantizable(96, affine(4, 32)));
  expect_invalid([&] { QuantizedMatrix::quantize(random_matrix(4, 172, 0.02f, 1), affine(4, 64)); }, "172");
}

TEST(QuantizedMatrixSlices, RowSlicesAndStacksRoundTrip) {
  const QuantizedMatrix q = QuantizedMatrix::quantize(random_matrix(10, 64, 0.02f, 4), affine(4, 32));
  const QuantizedMatrix a = q.slice_rows(0, 3), b = q.slice_rows(3, 7);
  EXPECT_EQ(a.dequantize(), q.dequantize().topRows(3));
  const QuantizedMatrix c = QuantizedMatrix::concat_rows({&a, &b});
  EXPECT_EQ(c.packed, q.packed);
  EXPECT_EQ(c.scales, q.scales);
  EXPECT_EQ(c.dequantize(), q.dequantize());
  expect_invalid([&] { q.slice_rows(8, 3); }, "10 rows");
}

}  // namespace
}  // namespace lorafarm::engine
