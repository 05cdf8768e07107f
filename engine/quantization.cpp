// Affine (MLX) and NF4 (bitsandbytes) quantization, tile-wise dequantization
// and the fused products. Formulas and their sources: docs/quantization.md.
#include "engine/quantization.h"

#include <omp.h>
#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/error.h"

namespace lorafarm::engine {
namespace {

constexpr int kNestedBlock = 256;      // absmax values per double-quantization block
constexpr int64_t kForwardTileRows = 128;  // output rows dequantized at a time
constexpr int64_t kBackwardTileCols = 128; // input columns dequantized at a time (multiple of every group size)

std::string mode_name(QuantizationConfig::Mode mode) {
  return mode == QuantizationConfig::Mode::kNf4 ? "nf4" : "affine";
}

// Midpoints between consecutive entries of an ascending table: the index of
// the nearest entry to x is the number of midpoints below x (ties go down,
// as bitsandbytes' `x > threshold` comparisons do).
template <std::size_t N>
std::array<float, N - 1> midpoints(const std::array<float, N>& table) {
  std::array<float, N - 1> mid{};
  for (std::size_t i = 0; i + 1 < N; ++i) mid[i] = 0.5f * (table[i] + table[i + 1]);
  return mid;
}

template <std::size_t M>
uint8_t nearest_index(const std::array<float, M>& mid, float x) {
  return static_cast<uint8_t>(std::lower_bound(mid.begin(), mid.end(), x) - mid.begin());
}

void check_finite(const Matrix& weight) {
  if (!weight.allFinite()) throw InvalidInput("cannot quantize a weight that contains NaN or infinite values");
}

// ---- affine (MLX) -------------------------------------------------------

// One group of MLX's affine quantization (mlx/backend/cpu/quantized.cpp,
// `quantize`): the edge with the larger magnitude is made exactly
// representable and zero lands on an integer code.
void affine_quantize_group(const float* w, int size, int bits, uint8_t* q, float& scale_out, float& bias_out) {
  const float n_bins = static_cast<float>((1 << bits) - 1);
  constexpr float eps = 1e-7f;
  float w_min = w[0], w_max = w[0];
  for (int i = 1; i < size; ++i) {
    w_min = std::min(w_min, w[i]);
    w_max = std::max(w_max, w[i]);
  }
  const bool min_is_edge = std::abs(w_min) > std::abs(w_max);
  float scale = std::max((w_max - w_min) / n_bins, eps);
  scale = min_is_edge ? scale : -scale;
  const float edge = min_is_edge ? w_min : w_max;
  const float q0 = std::rint(edge / scale);
  float bias = 0.0f;
  if (q0 != 0.0f) {
    scale = edge / q0;
    bias = edge;
  }
  for (int i = 0; i < size; ++i) {
    const float v = std::rint((w[i] - bias) / scale);
    q[i] = static_cast<uint8_t>(std::clamp(v, 0.0f, n_bins));
  }
  scale_out = scale;
  bias_out = bias;
}

void affine_quantize(const Matrix& weight, QuantizedMatrix& m) {
  const int bits = m.config.bits, gs = m.config.group_size;
  const int64_t gpr = m.groups_per_row(), words_per_row = m.cols * bits / 32;
  m.packed.assign(static_cast<std::size_t>(m.rows * words_per_row), 0u);
  m.scales.resize(static_cast<std::size_t>(m.rows * gpr));
  m.biases.resize(m.scales.size());
  std::vector<uint8_t> q(static_cast<std::size_t>(gs));
#pragma omp parallel for firstprivate(q) schedule(static)
  for (int64_t r = 0; r < m.rows; ++r) {
    uint32_t* words = m.packed.data() + r * words_per_row;
    for (int64_t g = 0; g < gpr; ++g) {
      const std::size_t index = static_cast<std::size_t>(r * gpr + g);
      affine_quantize_group(weight.row(r).data() + g * gs, gs, bits, q.data(), m.scales[index], m.biases[index]);
      for (int i = 0; i < gs; ++i) {
        const int64_t bit = (g * gs + i) * bits;
        words[bit / 32] |= static_cast<uint32_t>(q[static_cast<std::size_t>(i)]) << (bit % 32);
      }
    }
  }
}

// Groups [g0, g1) of row r, written contiguously to dst: w = fma(scale, q, bias).
template <int Bits>
void affine_dequantize_groups(const QuantizedMatrix& m, int64_t r, int64_t g0, int64_t g1, float* dst) {
  constexpr int per_word = 32 / Bits;
  constexpr uint32_t mask = (1u << Bits) - 1u;
  const int64_t gs = m.config.group_size, gpr = m.groups_per_row();
  const int64_t words_per_group = gs / per_word;
  const uint32_t* words = m.packed.data() + (r * m.cols * Bits) / 32 + g0 * words_per_group;
  const float* scales = m.scales.data() + r * gpr;
  const float* biases = m.biases.data() + r * gpr;
#if defined(__AVX2__) && defined(__FMA__)
  if constexpr (Bits == 4) {
    // 8 codes of one word at once: shift each lane by 4j, mask, convert, scale·q + bias.
    const __m256i shifts = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28);
    const __m256i low = _mm256_set1_epi32(15);
    for (int64_t g = g0; g < g1; ++g) {
      const __m256 scale = _mm256_set1_ps(scales[g]), bias = _mm256_set1_ps(biases[g]);
      for (int64_t w = 0; w < words_per_group; ++w, ++words, dst += 8) {
        const __m256i q = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(static_cast<int>(*words)), shifts), low);
        _mm256_storeu_ps(dst, _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(q), bias));
      }
    }
    return;
  }
  if constexpr (Bits == 8) {
    // Little-endian words: code j of a word is byte j, so 8 codes are 8 consecutive bytes.
    const auto* bytes = reinterpret_cast<const uint8_t*>(words);
    for (int64_t g = g0; g < g1; ++g) {
      const __m256 scale = _mm256_set1_ps(scales[g]), bias = _mm256_set1_ps(biases[g]);
      for (int64_t i = 0; i < gs; i += 8, bytes += 8, dst += 8) {
        const __m256i q = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(bytes)));
        _mm256_storeu_ps(dst, _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(q), bias));
      }
    }
    return;
  }
#endif
  for (int64_t g = g0; g < g1; ++g) {
    const float scale = scales[g], bias = biases[g];
    for (int64_t w = 0; w < words_per_group; ++w, ++words) {
      const uint32_t word = *words;
      for (int j = 0; j < per_word; ++j) {
        // Through int32: an unsigned conversion has no single instruction before
        // AVX-512. fma where the hardware has it, rounding like the vector paths.
        const auto q = static_cast<float>(static_cast<int32_t>((word >> (j * Bits)) & mask));
#ifdef FP_FAST_FMAF
        dst[j] = std::fma(scale, q, bias);
#else
        dst[j] = scale * q + bias;
#endif
      }
      dst += per_word;
    }
  }
}

// ---- NF4 (bitsandbytes) -------------------------------------------------

// Blockwise absmax scaling, nearest NF4 code, then double quantization of the
// absmax values: subtract their mean, 8-bit dynamic code per 256-block.
void nf4_quantize(const Matrix& weight, QuantizedMatrix& m) {
  const int64_t gs = m.config.group_size, gpr = m.groups_per_row(), blocks = m.rows * gpr;
  static const auto nf4_mid = midpoints(nf4_code_table());
  static const auto dyn_mid = midpoints(dynamic_code_table());
  std::vector<float> absmax(static_cast<std::size_t>(blocks));
  m.codes.assign(static_cast<std::size_t>(m.rows * m.cols / 2), 0);
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < m.rows; ++r) {
    for (int64_t g = 0; g < gpr; ++g) {
      const float* w = weight.row(r).data() + g * gs;
      float a = 0.0f;
      for (int64_t i = 0; i < gs; ++i) a = std::max(a, std::abs(w[i]));
      absmax[static_cast<std::size_t>(r * gpr + g)] = a;
      const float inv = a > 0.0f ? 1.0f / a : 0.0f;
      uint8_t* out = m.codes.data() + (r * m.cols + g * gs) / 2;
      for (int64_t i = 0; i < gs; i += 2) {
        const uint8_t hi = nearest_index(nf4_mid, w[i] * inv);
        const uint8_t lo = nearest_index(nf4_mid, w[i + 1] * inv);
        out[i / 2] = static_cast<uint8_t>(hi << 4 | lo);
      }
    }
  }
  double sum = 0.0;
  for (float a : absmax) sum += a;
  m.absmax_offset = blocks > 0 ? static_cast<float>(sum / static_cast<double>(blocks)) : 0.0f;
  const int64_t nested = (blocks + kNestedBlock - 1) / kNestedBlock;
  m.nested_absmax.assign(static_cast<std::size_t>(nested), 0.0f);
  m.absmax_codes.assign(static_cast<std::size_t>(blocks), 0);
  for (int64_t n = 0; n < nested; ++n) {
    const int64_t begin = n * kNestedBlock, end = std::min(blocks, begin + kNestedBlock);
    float top = 0.0f;
    for (int64_t b = begin; b < end; ++b) top = std::max(top, std::abs(absmax[b] - m.absmax_offset));
    m.nested_absmax[static_cast<std::size_t>(n)] = top;
    const float inv = top > 0.0f ? 1.0f / top : 0.0f;
    for (int64_t b = begin; b < end; ++b) {
      m.absmax_codes[static_cast<std::size_t>(b)] = nearest_index(dyn_mid, (absmax[b] - m.absmax_offset) * inv);
    }
  }
}

// Per byte: the two dequantized NF4 codes (high nibble first), before scaling.
const std::array<std::array<float, 2>, 256>& nf4_byte_table() {
  static const auto table = [] {
    std::array<std::array<float, 2>, 256> t{};
    const auto& code = nf4_code_table();
    for (int byte = 0; byte < 256; ++byte) t[byte] = {code[byte >> 4], code[byte & 15]};
    return t;
  }();
  return table;
}

float nf4_block_absmax(const QuantizedMatrix& m, int64_t block) {
  return dynamic_code_table()[m.absmax_codes[static_cast<std::size_t>(block)]] *
             m.nested_absmax[static_cast<std::size_t>(block / kNestedBlock)] +
         m.absmax_offset;
}

void nf4_dequantize_groups(const QuantizedMatrix& m, int64_t r, int64_t g0, int64_t g1, float* dst) {
  const auto& pairs = nf4_byte_table();
  const int64_t gs = m.config.group_size, gpr = m.groups_per_row();
  const uint8_t* bytes = m.codes.data() + (r * m.cols + g0 * gs) / 2;
  for (int64_t g = g0; g < g1; ++g) {
    const float a = nf4_block_absmax(m, r * gpr + g);
    for (int64_t i = 0; i < gs / 2; ++i, ++bytes) {
      const auto& pair = pairs[*bytes];
      *dst++ = pair[0] * a;
      *dst++ = pair[1] * a;
    }
  }
}

void dequantize_groups(const QuantizedMatrix& m, int64_t r, int64_t g0, int64_t g1, float* dst) {
  if (m.is_nf4()) return nf4_dequantize_groups(m, r, g0, g1, dst);
  if (m.config.bits == 4) return affine_dequantize_groups<4>(m, r, g0, g1, dst);
  return affine_dequantize_groups<8>(m, r, g0, g1, dst);
}

int team_size(int64_t tiles) { return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(num_threads(), tiles))); }

}  // namespace

void validate_quantization(const QuantizationConfig& config) {
  if (config.bits != 4 && config.bits != 8) {
    throw InvalidInput("quantization bits " + std::to_string(config.bits) + " is not supported (supported: 4, 8)");
  }
  if (config.group_size != 32 && config.group_size != 64 && config.group_size != 128) {
    throw InvalidInput("quantization group size " + std::to_string(config.group_size) +
                       " is not supported (supported: 32, 64, 128)");
  }
  if (config.mode == QuantizationConfig::Mode::kNf4 && config.bits != 4) {
    throw InvalidInput("nf4 quantization is 4-bit; got bits " + std::to_string(config.bits));
  }
}

bool is_quantizable(int64_t in_features, const QuantizationConfig& config) {
  return in_features > 0 && in_features % config.group_size == 0;
}

const std::array<float, 16>& nf4_code_table() {
  static constexpr std::array<float, 16> table = {
      -1.0f,
      -0.6961928009986877f,
      -0.5250730514526367f,
      -0.39491748809814453f,
      -0.28444138169288635f,
      -0.18477343022823334f,
      -0.09105003625154495f,
      0.0f,
      0.07958029955625534f,
      0.16093020141124725f,
      0.24611230194568634f,
      0.33791524171829224f,
      0.44070982933044434f,
      0.5626170039176941f,
      0.7229568362236023f,
      1.0f,
  };
  return table;
}

// Signed dynamic map with 7 exponent bits: for exponent i = 0..6, 2^i values
// 10^(i−6)·(midpoints of linspace(0.1, 1, 2^i + 1)) and their negatives, plus
// 0 and 1; sorted. Computed in double and rounded to float.
const std::array<float, 256>& dynamic_code_table() {
  static const std::array<float, 256> table = [] {
    std::vector<double> data;
    for (int i = 0; i < 7; ++i) {
      const int items = (1 << i) + 1;
      const double scale = std::pow(10.0, i - 6);
      for (int k = 0; k + 1 < items; ++k) {
        const double lo = 0.1 + 0.9 * k / (items - 1), hi = 0.1 + 0.9 * (k + 1) / (items - 1);
        data.push_back(scale * (lo + hi) / 2.0);
        data.push_back(-scale * (lo + hi) / 2.0);
      }
    }
    data.push_back(0.0);
    data.push_back(1.0);
    std::sort(data.begin(), data.end());
    std::array<float, 256> t{};
    for (std::size_t i = 0; i < t.size(); ++i) t[i] = static_cast<float>(data[i]);
    return t;
  }();
  return table;
}

QuantizedMatrix QuantizedMatrix::quantize(const Matrix& weight, const QuantizationConfig& config) {
  validate_quantization(config);
  if (!is_quantizable(weight.cols(), config)) {
    throw InvalidInput("cannot quantize a weight with " + std::to_string(weight.cols()) + " inputs in groups of " +
                       std::to_string(config.group_size) + ": not a multiple of the group size");
  }
  check_finite(weight);
  QuantizedMatrix m;
  m.config = config;
  m.rows = weight.rows();
  m.cols = weight.cols();
  if (m.is_nf4()) nf4_quantize(weight, m);
  else affine_quantize(weight, m);
  return m;
}

Matrix QuantizedMatrix::dequantize() const {
  Matrix w(rows, cols);
  dequantize_rows(0, rows, w.data());
  return w;
}

void QuantizedMatrix::dequantize_rows(int64_t begin, int64_t count, float* out) const {
  for (int64_t r = begin; r < begin + count; ++r) dequantize_groups(*this, r, 0, groups_per_row(), out + (r - begin) * cols);
}

void QuantizedMatrix::dequantize_cols(int64_t begin, int64_t count, float* out) const {
  const int64_t gs = config.group_size;
  for (int64_t r = 0; r < rows; ++r) dequantize_groups(*this, r, begin / gs, (begin + count) / gs, out + r * count);
}

void QuantizedMatrix::multiply_transposed(const Matrix& x, Matrix& y) const {
  if (x.cols() != cols) {
    throw InvalidInput("quantized product: input has " + std::to_string(x.cols()) + " features, the weight expects " +
                       std::to_string(cols));
  }
  y.resize(x.rows(), rows);
  const int64_t tiles = (rows + kForwardTileRows - 1) / kForwardTileRows;
  // Each thread dequantizes whole tiles of output rows and runs its own
  // (single-threaded, since we are inside a parallel region) Eigen GEMM on them.
#pragma omp parallel num_threads(team_size(tiles))
  {
    Matrix tile(std::min(kForwardTileRows, rows), cols);
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < tiles; ++t) {
      const int64_t begin = t * kForwardTileRows, count = std::min(kForwardTileRows, rows - begin);
      dequantize_rows(begin, count, tile.data());
      y.middleCols(begin, count).noalias() = x * tile.topRows(count).transpose();
    }
  }
}

void QuantizedMatrix::multiply(const Matrix& dy, Matrix& dx) const {
  if (dy.cols() != rows) {
    throw InvalidInput("quantized input gradient: gradient has " + std::to_string(dy.cols()) +
                       " features, the weight has " + std::to_string(rows) + " outputs");
  }
  dx.resize(dy.rows(), cols);
  const int64_t tiles = (cols + kBackwardTileCols - 1) / kBackwardTileCols;
  // Tiles of input columns (whole groups): dx[:, c] = dy · W[:, c], no reduction across threads.
#pragma omp parallel num_threads(team_size(tiles))
  {
    std::vector<float> buffer(static_cast<std::size_t>(rows * std::min(kBackwardTileCols, cols)));
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < tiles; ++t) {
      const int64_t begin = t * kBackwardTileCols, count = std::min(kBackwardTileCols, cols - begin);
      dequantize_cols(begin, count, buffer.data());
      dx.middleCols(begin, count).noalias() = dy * Eigen::Map<const Matrix>(buffer.data(), rows, count);
    }
  }
}

int64_t QuantizedMatrix::bytes() const {
  return static_cast<int64_t>(packed.size() * sizeof(uint32_t) + (scales.size() + biases.size()) * sizeof(float) +
                              codes.size() + absmax_codes.size() + nested_absmax.size() * sizeof(float) +
                              sizeof(float));
}

QuantizedMatrix QuantizedMatrix::slice_rows(int64_t begin, int64_t count) const {
  if (is_nf4()) throw InvalidInput("row slices of nf4-quantized weights are not supported (phi3 fused projections)");
  if (begin < 0 || count < 0 || begin + count > rows) {
    throw InvalidInput("row slice [" + std::to_string(begin) + ", " + std::to_string(begin + count) +
                       ") is outside a quantized weight with " + std::to_string(rows) + " rows");
  }
  QuantizedMatrix s;
  s.config = config;
  s.rows = count;
  s.cols = cols;
  const int64_t wpr = cols * config.bits / 32, gpr = groups_per_row();
  s.packed.assign(packed.begin() + begin * wpr, packed.begin() + (begin + count) * wpr);
  s.scales.assign(scales.begin() + begin * gpr, scales.begin() + (begin + count) * gpr);
  s.biases.assign(biases.begin() + begin * gpr, biases.begin() + (begin + count) * gpr);
  return s;
}

QuantizedMatrix QuantizedMatrix::concat_rows(const std::vector<const QuantizedMatrix*>& parts) {
  if (parts.empty()) throw InvalidInput("concat_rows needs at least one quantized weight");
  QuantizedMatrix c;
  c.config = parts.front()->config;
  c.cols = parts.front()->cols;
  for (const QuantizedMatrix* p : parts) {
    if (p->is_nf4()) throw InvalidInput("stacking nf4-quantized weights is not supported (phi3 fused projections)");
    if (p->cols != c.cols || p->config.bits != c.config.bits || p->config.group_size != c.config.group_size ||
        p->config.mode != c.config.mode) {
      throw InvalidInput("concat_rows: quantized weights differ in inputs or " + mode_name(p->config.mode) +
                         " quantization settings");
    }
    c.rows += p->rows;
    c.packed.insert(c.packed.end(), p->packed.begin(), p->packed.end());
    c.scales.insert(c.scales.end(), p->scales.begin(), p->scales.end());
    c.biases.insert(c.biases.end(), p->biases.begin(), p->biases.end());
  }
  return c;
}

}  // namespace lorafarm::engine
