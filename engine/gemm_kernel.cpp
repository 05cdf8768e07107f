// Packed SGEMM: B is packed in panels of kNr columns, A in panels of kMr rows,
// and a kMr×kNr tile of C is summed in registers over kKc steps of k at a
// time. The bf16 kernel packs pairs of k steps as bf16 pairs (the layout
// `vdpbf16ps` multiplies) and sums in the same fp32 registers.
#include "engine/gemm_kernel.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace lorafarm::engine {

#if defined(__AVX512F__)
namespace {

constexpr std::int64_t kMr = 12;   // rows of the register tile (broadcasts)
constexpr std::int64_t kNr = 32;   // columns of the register tile (two 16-float vectors)
constexpr std::int64_t kMc = 16 * kMr;  // rows of A packed per pass: 192 KB, in L2
constexpr std::int64_t kNc = 1024;      // columns of B packed per pass: 1 MB

struct AlignedFree {
  void operator()(void* p) const { ::operator delete[](p, std::align_val_t(64)); }
};
template <typename T>
using AlignedBuffer = std::unique_ptr<T[], AlignedFree>;

template <typename T>
AlignedBuffer<T> aligned(std::int64_t count) {
  return AlignedBuffer<T>(static_cast<T*>(::operator new[](static_cast<std::size_t>(count) * sizeof(T), std::align_val_t(64))));
}

// n consecutive stored values of x from element `offset`, as floats.
void read_values(const GemmOperand& x, std::int64_t offset, std::int64_t n, float* out) {
  if (x.half) {
    widen_halves(x.half + offset, n, x.half_type, out);
  } else {
    std::copy_n(x.data + offset, n, out);
  }
}

// Packs `lines` lines (rows of op(a), or columns of op(b)) starting at
// `line0`, over depth p0 : p0+kc, as panels of `width` lines each stored
// depth-major ([p][width]) in float32; lines past the end are zero. Element
// (line, p) sits at p·ld + line when `depth_major`, else at line·ld + p.
void pack_panels(const GemmOperand& x, bool depth_major, std::int64_t line0, std::int64_t lines, std::int64_t p0,
                 std::int64_t kc, std::int64_t width, float* out) {
  float row[512];  // one stored line's kc values (kc <= 512)
  for (std::int64_t base = 0; base < lines; base += width) {
    const std::int64_t count = std::min(width, lines - base);
    float* panel = out + base * kc;
    if (depth_major) {  // a panel row is contiguous in memory
      for (std::int64_t p = 0; p < kc; ++p) {
        float* dst = panel + p * width;
        read_values(x, (p0 + p) * x.ld + line0 + base, count, dst);
        std::fill(dst + count, dst + width, 0.0f);
      }
      continue;
    }
    for (std::int64_t w = 0; w < width; ++w) {
      if (w >= count) {
        for (std::int64_t p = 0; p < kc; ++p) panel[p * width + w] = 0.0f;
        continue;
      }
      const std::int64_t offset = (line0 + base + w) * x.ld + p0;
      if (x.half) read_values(x, offset, kc, row);
      const float* src = x.half ? row : x.data + offset;
      for (std::int64_t p = 0; p < kc; ++p) panel[p * width + w] = src[p];
    }
  }
}

// Stores alpha·acc into a kMr×kNr tile (row stride ldt), or adds it.
inline void store_tile(const __m512 (&acc)[kMr][2], float* tile, std::int64_t ldt, float alpha, bool accumulate) {
  const __m512 scale = _mm512_set1_ps(alpha);
#pragma GCC unroll 12
  for (int r = 0; r < kMr; ++r) {
    float* row = tile + r * ldt;
    __m512 lo = _mm512_mul_ps(scale, acc[r][0]);
    __m512 hi = _mm512_mul_ps(scale, acc[r][1]);
    if (accumulate) {
      lo = _mm512_add_ps(_mm512_loadu_ps(row), lo);
      hi = _mm512_add_ps(_mm512_loadu_ps(row + 16), hi);
    }
    _mm512_storeu_ps(row, lo);
    _mm512_storeu_ps(row + 16, hi);
  }
}

// fp32 products: panels hold floats, one step of k per packed row.
struct F32Kernel {
  using Elem = float;
  static constexpr std::int64_t kKc = 256;  // a 32 KB B micro-panel stays in L1
  static std::int64_t depth(std::int64_t kc) { return kc; }

  static void pack(const GemmOperand& x, bool depth_major, std::int64_t line0, std::int64_t lines, std::int64_t p0,
                   std::int64_t kc, std::int64_t width, Elem* out) {
    pack_panels(x, depth_major, line0, lines, p0, kc, width, out);
  }

  // tile (kMr×kNr, row stride ldt) = or += alpha·Σ_k a_panel[k]ᵀ·b_panel[k].
  static void micro(std::int64_t kc, const Elem* a_panel, const Elem* b_panel, float* tile, std::int64_t ldt,
                    float alpha, bool accumulate) {
    __m512 acc[kMr][2];
#pragma GCC unroll 12
    for (int r = 0; r < kMr; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (std::int64_t p = 0; p < kc; ++p) {
      const __m512 b0 = _mm512_load_ps(b_panel);
      const __m512 b1 = _mm512_load_ps(b_panel + 16);
#pragma GCC unroll 12
      for (int r = 0; r < kMr; ++r) {
        const __m512 a = _mm512_set1_ps(a_panel[r]);
        acc[r][0] = _mm512_fmadd_ps(a, b0, acc[r][0]);
        acc[r][1] = _mm512_fmadd_ps(a, b1, acc[r][1]);
      }
      a_panel += kMr;
      b_panel += kNr;
    }
    store_tile(acc, tile, ldt, alpha, accumulate);
  }
};

// The bf16 bits of x rounded to nearest, ties to even.
inline uint32_t bf16_bits(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  return (bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16;
}

// The same rounding for 16 floats, as 32-bit lanes holding the bf16 in their low half.
inline __m512i bf16_bits(__m512 x) {
  const __m512i bits = _mm512_castps_si512(x);
  const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  return _mm512_srli_epi32(_mm512_add_epi32(bits, _mm512_add_epi32(odd, _mm512_set1_epi32(0x7fff))), 16);
}

// bf16 products: a packed element is a pair (k = 2q, 2q+1) of bf16 in one
// 32-bit word, the even step in the low half, as `vdpbf16ps` reads them.
struct Bf16Kernel {
  using Elem = uint32_t;
  static constexpr std::int64_t kKc = 512;  // 256 pairs: a 32 KB B micro-panel
  static constexpr std::int64_t kMaxDepth = kKc;
  static std::int64_t depth(std::int64_t kc) { return (kc + 1) / 2; }

  // Packs straight into bf16 pairs: a depth-major source pairs two rows of
  // lines, a line-major one rounds each line's contiguous depth run, whose
  // neighbours already are the pairs.
  static void pack(const GemmOperand& x, bool depth_major, std::int64_t line0, std::int64_t lines, std::int64_t p0,
                   std::int64_t kc, std::int64_t width, Elem* out) {
    const std::int64_t pairs = depth(kc);
    for (std::int64_t base = 0; base < lines; base += width) {
      const std::int64_t count = std::min(width, lines - base);
      Elem* panel = out + base * pairs;
      if (depth_major) {
        pack_row_pairs(x, line0 + base, count, p0, kc, width, panel);
      } else {
        pack_line_runs(x, line0 + base, count, p0, kc, width, panel);
      }
    }
  }

  // One panel from a source whose panel rows are contiguous (element (line, p) at p·ld + line).
  static void pack_row_pairs(const GemmOperand& x, std::int64_t first, std::int64_t count, std::int64_t p0,
                             std::int64_t kc, std::int64_t width, Elem* panel) {
    alignas(64) float even[kNr] = {}, odd[kNr] = {};
    for (std::int64_t q = 0; q < depth(kc); ++q) {
      const bool has_odd = 2 * q + 1 < kc;
      read_values(x, (p0 + 2 * q) * x.ld + first, count, even);
      if (has_odd) read_values(x, (p0 + 2 * q + 1) * x.ld + first, count, odd);
      pair_rows(even, has_odd ? odd : nullptr, width, panel + q * width);
    }
  }

  // One panel from a source whose lines are contiguous (element (line, p) at line·ld + p).
  static void pack_line_runs(const GemmOperand& x, std::int64_t first, std::int64_t count, std::int64_t p0,
                             std::int64_t kc, std::int64_t width, Elem* panel) {
    alignas(64) float run[kMaxDepth];
    alignas(64) Elem words[kMaxDepth / 2];
    const std::int64_t pairs = depth(kc);
    for (std::int64_t w = 0; w < width; ++w) {
      if (w >= count) {
        for (std::int64_t q = 0; q < pairs; ++q) panel[q * width + w] = 0;
        continue;
      }
      const std::int64_t offset = (first + w) * x.ld + p0;
      if (x.half) read_values(x, offset, kc, run);
      pair_run(x.half ? run : x.data + offset, kc, words);
      for (std::int64_t q = 0; q < pairs; ++q) panel[q * width + w] = words[q];
    }
  }

  // words[q] = bf16(src[2q]) | bf16(src[2q+1]) << 16 over n values (a missing last odd one is 0).
  static void pair_run(const float* src, std::int64_t n, Elem* words) {
    std::int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
      const __m256i lo = _mm512_cvtepi32_epi16(bf16_bits(_mm512_loadu_ps(src + i)));
      const __m256i hi = _mm512_cvtepi32_epi16(bf16_bits(_mm512_loadu_ps(src + i + 16)));
      _mm512_storeu_si512(words + i / 2, _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1));
    }
    for (; i < n; i += 2) words[i / 2] = bf16_bits(src[i]) | (i + 1 < n ? bf16_bits(src[i + 1]) << 16 : 0u);
  }

  // out[w] = bf16(even[w]) | bf16(odd[w]) << 16 (odd null: zero).
  static void pair_rows(const float* even, const float* odd, std::int64_t width, Elem* out) {
    std::int64_t w = 0;
    for (; w + 16 <= width; w += 16) {
      __m512i word = bf16_bits(_mm512_loadu_ps(even + w));
      if (odd) word = _mm512_or_si512(word, _mm512_slli_epi32(bf16_bits(_mm512_loadu_ps(odd + w)), 16));
      _mm512_storeu_si512(out + w, word);
    }
    for (; w < width; ++w) out[w] = bf16_bits(even[w]) | (odd ? bf16_bits(odd[w]) << 16 : 0u);
  }

  // tile (kMr×kNr) = or += alpha·Σ_q Σ_{k ∈ pair q} a_panel[k]ᵀ·b_panel[k], in fp32.
  __attribute__((target("avx512f,avx512bf16"))) static void micro(std::int64_t pairs, const Elem* a_panel,
                                                                   const Elem* b_panel, float* tile, std::int64_t ldt,
                                                                   float alpha, bool accumulate) {
    __m512 acc[kMr][2];
#pragma GCC unroll 12
    for (int r = 0; r < kMr; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (std::int64_t q = 0; q < pairs; ++q) {
      const auto b0 = (__m512bh)(_mm512_load_si512(b_panel));
      const auto b1 = (__m512bh)(_mm512_load_si512(b_panel + 16));
#pragma GCC unroll 12
      for (int r = 0; r < kMr; ++r) {
        const auto a = (__m512bh)(_mm512_set1_epi32(static_cast<int>(a_panel[r])));
        acc[r][0] = _mm512_dpbf16_ps(acc[r][0], a, b0);
        acc[r][1] = _mm512_dpbf16_ps(acc[r][1], a, b1);
      }
      a_panel += kMr;
      b_panel += kNr;
    }
    store_tile(acc, tile, ldt, alpha, accumulate);
  }
};

// The three-level blocked product with kernel K (F32Kernel or Bf16Kernel).
template <typename K>
void run_blocked(std::int64_t m, std::int64_t n, std::int64_t k, const GemmOperand& a, const GemmOperand& b, float* c,
                 std::int64_t ldc, float alpha, float beta) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    if (beta == 0.0f)
      for (std::int64_t i = 0; i < m; ++i) std::fill_n(c + i * ldc, n, 0.0f);
    return;
  }
  const std::int64_t nc_max = std::min(kNc, (n + kNr - 1) / kNr * kNr);
  const std::int64_t mc_max = std::min(kMc, (m + kMr - 1) / kMr * kMr);
  const std::int64_t kc_max = std::min(K::kKc, k);
  auto packed_b = aligned<typename K::Elem>(K::depth(kc_max) * nc_max);
  auto packed_a = aligned<typename K::Elem>(K::depth(kc_max) * mc_max);
  alignas(64) float edge[kMr * kNr];  // partial tiles go through here

  for (std::int64_t j0 = 0; j0 < n; j0 += kNc) {
    const std::int64_t nc = std::min(kNc, n - j0);
    for (std::int64_t p0 = 0; p0 < k; p0 += K::kKc) {
      const std::int64_t kc = std::min(K::kKc, k - p0), depth = K::depth(kc);
      const bool accumulate = p0 > 0 || beta != 0.0f;
      K::pack(b, !b.transposed, j0, nc, p0, kc, kNr, packed_b.get());
      for (std::int64_t i0 = 0; i0 < m; i0 += kMc) {
        const std::int64_t mc = std::min(kMc, m - i0);
        K::pack(a, a.transposed, i0, mc, p0, kc, kMr, packed_a.get());
        for (std::int64_t jr = 0; jr < nc; jr += kNr) {
          const std::int64_t cols = std::min(kNr, nc - jr);
          for (std::int64_t ir = 0; ir < mc; ir += kMr) {
            const std::int64_t rows = std::min(kMr, mc - ir);
            float* target = c + (i0 + ir) * ldc + j0 + jr;
            const auto* a_panel = packed_a.get() + ir * depth;
            const auto* b_panel = packed_b.get() + jr * depth;
            if (rows == kMr && cols == kNr) {
              K::micro(depth, a_panel, b_panel, target, ldc, alpha, accumulate);
              continue;
            }
            // A partial tile: sum into the scratch tile, then add or copy the valid part.
            K::micro(depth, a_panel, b_panel, edge, kNr, alpha, false);
            for (std::int64_t r = 0; r < rows; ++r) {
              float* out = target + r * ldc;
              const float* in = edge + r * kNr;
              if (accumulate) {
                for (std::int64_t col = 0; col < cols; ++col) out[col] += in[col];
              } else {
                std::copy_n(in, cols, out);
              }
            }
          }
        }
      }
    }
  }
}

}  // namespace

bool packed_gemm_available() { return true; }

bool packed_gemm_bf16_available() {
  static const bool supported = __builtin_cpu_supports("avx512bf16");
  return supported;
}

void packed_gemm(std::int64_t m, std::int64_t n, std::int64_t k, GemmOperand a, GemmOperand b, float* c,
                 std::int64_t ldc, float alpha, float beta) {
  run_blocked<F32Kernel>(m, n, k, a, b, c, ldc, alpha, beta);
}

void packed_gemm_bf16(std::int64_t m, std::int64_t n, std::int64_t k, GemmOperand a, GemmOperand b, float* c,
                      std::int64_t ldc, float alpha, float beta) {
  if (!packed_gemm_bf16_available()) throw std::logic_error("packed_gemm_bf16: this CPU has no AVX-512 BF16");
  run_blocked<Bf16Kernel>(m, n, k, a, b, c, ldc, alpha, beta);
}

#else  // no AVX-512: gemm.cpp keeps Eigen's kernel

bool packed_gemm_available() { return false; }
bool packed_gemm_bf16_available() { return false; }

void packed_gemm(std::int64_t, std::int64_t, std::int64_t, GemmOperand, GemmOperand, float*, std::int64_t, float, float) {
  throw std::logic_error("packed_gemm: this build has no AVX-512 kernel (check packed_gemm_available())");
}

void packed_gemm_bf16(std::int64_t, std::int64_t, std::int64_t, GemmOperand, GemmOperand, float*, std::int64_t, float,
                      float) {
  throw std::logic_error("packed_gemm_bf16: this build has no AVX-512 kernel (check packed_gemm_bf16_available())");
}

#endif

}  // namespace lorafarm::engine
