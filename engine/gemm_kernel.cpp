// Packed SGEMM: B is packed in panels of kNr columns, A in panels of kMr rows,
// and a kMr×kNr tile of C is summed in registers over kKc steps of k at a time.
#include "engine/gemm_kernel.h"

#include <algorithm>
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
constexpr std::int64_t kKc = 256;  // k per pass: a 32 KB B micro-panel stays in L1
constexpr std::int64_t kMc = 16 * kMr;  // rows of A packed per pass: 192 KB, in L2
constexpr std::int64_t kNc = 1024;      // columns of B packed per pass: 1 MB

struct AlignedFree {
  void operator()(float* p) const { ::operator delete[](p, std::align_val_t(64)); }
};
using AlignedBuffer = std::unique_ptr<float[], AlignedFree>;

AlignedBuffer aligned_floats(std::int64_t count) {
  return AlignedBuffer(static_cast<float*>(::operator new[](static_cast<std::size_t>(count) * sizeof(float), std::align_val_t(64))));
}

// Packs `lines` lines (rows of op(a), or columns of op(b)) starting at
// `line0`, over depth p0 : p0+kc, as panels of `width` lines each stored
// depth-major ([p][width]); lines past the end are zero. Element (line, p)
// sits at data[p·ld + line] when `depth_major`, else at data[line·ld + p].
void pack_panels(const float* data, std::int64_t ld, bool depth_major, std::int64_t line0, std::int64_t lines,
                 std::int64_t p0, std::int64_t kc, std::int64_t width, float* out) {
  for (std::int64_t base = 0; base < lines; base += width) {
    const std::int64_t count = std::min(width, lines - base);
    float* panel = out + base * kc;
    if (depth_major) {  // a panel row is contiguous in memory
      for (std::int64_t p = 0; p < kc; ++p) {
        const float* src = data + (p0 + p) * ld + line0 + base;
        float* dst = panel + p * width;
        std::copy_n(src, count, dst);
        std::fill(dst + count, dst + width, 0.0f);
      }
    } else {
      for (std::int64_t w = 0; w < width; ++w) {
        if (w < count) {
          const float* src = data + (line0 + base + w) * ld + p0;
          for (std::int64_t p = 0; p < kc; ++p) panel[p * width + w] = src[p];
        } else {
          for (std::int64_t p = 0; p < kc; ++p) panel[p * width + w] = 0.0f;
        }
      }
    }
  }
}

// op(a)[i0 : i0+mc, p0 : p0+kc] as panels of kMr rows.
void pack_a(const GemmOperand& a, std::int64_t i0, std::int64_t mc, std::int64_t p0, std::int64_t kc, float* out) {
  pack_panels(a.data, a.ld, a.transposed, i0, mc, p0, kc, kMr, out);
}

// op(b)[p0 : p0+kc, j0 : j0+nc] as panels of kNr columns.
void pack_b(const GemmOperand& b, std::int64_t p0, std::int64_t kc, std::int64_t j0, std::int64_t nc, float* out) {
  pack_panels(b.data, b.ld, !b.transposed, j0, nc, p0, kc, kNr, out);
}

// tile (kMr×kNr, row stride ldt) = or += alpha·Σ_k a_panel[k]ᵀ·b_panel[k].
void micro_kernel(std::int64_t kc, const float* a_panel, const float* b_panel, float* tile, std::int64_t ldt,
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

}  // namespace

bool packed_gemm_available() { return true; }

void packed_gemm(std::int64_t m, std::int64_t n, std::int64_t k, GemmOperand a, GemmOperand b, float* c,
                 std::int64_t ldc, float alpha, float beta) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    if (beta == 0.0f)
      for (std::int64_t i = 0; i < m; ++i) std::fill_n(c + i * ldc, n, 0.0f);
    return;
  }
  const std::int64_t nc_max = std::min(kNc, (n + kNr - 1) / kNr * kNr);
  const std::int64_t mc_max = std::min(kMc, (m + kMr - 1) / kMr * kMr);
  const std::int64_t kc_max = std::min(kKc, k);
  auto packed_b = aligned_floats(kc_max * nc_max);
  auto packed_a = aligned_floats(kc_max * mc_max);
  alignas(64) float edge[kMr * kNr];  // partial tiles go through here

  for (std::int64_t j0 = 0; j0 < n; j0 += kNc) {
    const std::int64_t nc = std::min(kNc, n - j0);
    for (std::int64_t p0 = 0; p0 < k; p0 += kKc) {
      const std::int64_t kc = std::min(kKc, k - p0);
      const bool accumulate = p0 > 0 || beta != 0.0f;
      pack_b(b, p0, kc, j0, nc, packed_b.get());
      for (std::int64_t i0 = 0; i0 < m; i0 += kMc) {
        const std::int64_t mc = std::min(kMc, m - i0);
        pack_a(a, i0, mc, p0, kc, packed_a.get());
        for (std::int64_t jr = 0; jr < nc; jr += kNr) {
          const std::int64_t cols = std::min(kNr, nc - jr);
          for (std::int64_t ir = 0; ir < mc; ir += kMr) {
            const std::int64_t rows = std::min(kMr, mc - ir);
            float* target = c + (i0 + ir) * ldc + j0 + jr;
            const float* a_panel = packed_a.get() + ir * kc;
            const float* b_panel = packed_b.get() + jr * kc;
            if (rows == kMr && cols == kNr) {
              micro_kernel(kc, a_panel, b_panel, target, ldc, alpha, accumulate);
              continue;
            }
            // A partial tile: sum into the scratch tile, then add or copy the valid part.
            micro_kernel(kc, a_panel, b_panel, edge, kNr, alpha, false);
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

#else  // no AVX-512: gemm.cpp keeps Eigen's kernel

bool packed_gemm_available() { return false; }

void packed_gemm(std::int64_t, std::int64_t, std::int64_t, GemmOperand, GemmOperand, float*, std::int64_t, float, float) {
  throw std::logic_error("packed_gemm: this build has no AVX-512 kernel (check packed_gemm_available())");
}

#endif

}  // namespace lorafarm::engine
