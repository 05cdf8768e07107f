// 16-bit frozen weights: loading from a checkpoint and exact widening to float32.
#include "engine/half_matrix.h"

#include <bit>
#include <cstring>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "engine/error.h"
#include "engine/safetensors.h"

namespace lorafarm::engine {
namespace {

float fp16_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exponent = (h >> 10) & 0x1f;
  uint32_t mantissa = h & 0x3ff;
  if (exponent == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));  // inf, nan
  if (exponent != 0) return std::bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
  if (mantissa == 0) return std::bit_cast<float>(sign);
  exponent = 113;  // subnormal: renormalise
  while ((mantissa & 0x400) == 0) {
    mantissa <<= 1;
    --exponent;
  }
  return std::bit_cast<float>(sign | (exponent << 23) | ((mantissa & 0x3ff) << 13));
}

}  // namespace

float half_to_float(uint16_t value, HalfType type) {
  return type == HalfType::kBF16 ? std::bit_cast<float>(static_cast<uint32_t>(value) << 16) : fp16_to_float(value);
}

void widen_halves(const uint16_t* src, int64_t n, HalfType type, float* out) {
  int64_t i = 0;
#if defined(__AVX512F__)
  for (; i + 16 <= n; i += 16) {
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
    const __m512 f = type == HalfType::kBF16 ? _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16))
                                             : _mm512_cvtph_ps(h);
    _mm512_storeu_ps(out + i, f);
  }
#endif
  for (; i < n; ++i) out[i] = half_to_float(src[i], type);
}

Matrix HalfMatrix::to_float() const {
  Matrix m(rows, cols);
  widen_halves(bits.data(), static_cast<int64_t>(bits.size()), type, m.data());
  return m;
}

void HalfMatrix::row_to_float(Eigen::Index row, float* out) const {
  widen_halves(bits.data() + row * cols, cols, type, out);
}

HalfMatrix HalfMatrix::from_tensor(const TensorView& view, Eigen::Index rows, Eigen::Index cols) {
  if (view.dtype != DType::kBF16 && view.dtype != DType::kF16) {
    throw InvalidInput("tensor '" + view.name + "' is " + dtype_name(view.dtype) + ", not a 16-bit float");
  }
  if (view.num_elements() != rows * cols) throw InvalidInput("tensor '" + view.name + "' has the wrong size");
  HalfMatrix m;
  m.type = view.dtype == DType::kBF16 ? HalfType::kBF16 : HalfType::kF16;
  m.rows = rows;
  m.cols = cols;
  m.bits.resize(static_cast<std::size_t>(rows * cols));
  if (!m.bits.empty()) std::memcpy(m.bits.data(), view.bytes.data(), m.bits.size() * 2);
  return m;
}

HalfMatrix HalfMatrix::from_rows(const HalfMatrix& whole, Eigen::Index first, Eigen::Index count) {
  HalfMatrix m;
  m.type = whole.type;
  m.rows = count;
  m.cols = whole.cols;
  const auto begin = whole.bits.begin() + first * whole.cols;
  m.bits.assign(begin, begin + count * whole.cols);
  return m;
}

}  // namespace lorafarm::engine
