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
#include <type_traits>

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

// Asks for a kMr×kNr tile of the result before its sums start: the result
// is larger than L2, and without this the stores after the k loop wait on
// memory (measured at 12 % of a bf16 full fine-tuning step).
inline void prefetch_tile(const float* tile, std::int64_t ldt) {
#pragma GCC unroll 12
  for (int r = 0; r < kMr; ++r) {
    _mm_prefetch(reinterpret_cast<const char*>(tile + r * ldt), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(tile + r * ldt + 16), _MM_HINT_T0);
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
    prefetch_tile(tile, ldt);
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

// The bf16 bits of 16 floats rounded to nearest, ties to even, as 32-bit
// lanes holding the bf16 in their low half.
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
  // neighbours already are the pairs, and transposes 8 lines × 8 pairs at a time.
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

  // n stored values of x from `offset` as floats: in place for float32, widened into `scratch` for 16-bit.
  static const float* values_at(const GemmOperand& x, std::int64_t offset, std::int64_t n, float* scratch) {
    if (!x.half) return x.data + offset;
    widen_halves(x.half + offset, n, x.half_type, scratch);
    return scratch;
  }

  // The first n (clamped to 0..16) lanes.
  static __mmask16 first_lanes(std::int64_t n) {
    return n <= 0 ? __mmask16(0) : n >= 16 ? __mmask16(0xffff) : __mmask16((1u << n) - 1u);
  }

  // Lane i: bf16(even[i]) | bf16(odd[i]) << 16.
  static __m512i pair_words(__m512 even, __m512 odd) {
    return _mm512_or_si512(bf16_bits(even), _mm512_slli_epi32(bf16_bits(odd), 16));
  }

  // One panel from a source whose panel rows are contiguous (element (line, p) at p·ld + line).
  static void pack_row_pairs(const GemmOperand& x, std::int64_t first, std::int64_t count, std::int64_t p0,
                             std::int64_t kc, std::int64_t width, Elem* panel) {
    alignas(64) float even_scratch[kNr], odd_scratch[kNr];
    for (std::int64_t q = 0; q < depth(kc); ++q) {
      const float* even = values_at(x, (p0 + 2 * q) * x.ld + first, count, even_scratch);
      const float* odd = 2 * q + 1 < kc ? values_at(x, (p0 + 2 * q + 1) * x.ld + first, count, odd_scratch) : nullptr;
      Elem* row = panel + q * width;
      for (std::int64_t w = 0; w < width; w += 16) {
        const __mmask16 valid = first_lanes(count - w);  // masked lanes read nothing: no overrun
        const __m512 e = _mm512_maskz_loadu_ps(valid, even + w);
        const __m512 o = odd ? _mm512_maskz_loadu_ps(valid, odd + w) : _mm512_setzero_ps();
        _mm512_mask_storeu_epi32(row + w, first_lanes(width - w), pair_words(e, o));
      }
    }
  }

  // r[i][j] becomes r[j][i] for 8 rows of 8 words.
  static void transpose8(__m256i (&r)[8]) {
    __m256i t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
      t[i] = _mm256_unpacklo_epi32(r[i], r[i + 1]);
      t[i + 1] = _mm256_unpackhi_epi32(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
      u[i] = _mm256_unpacklo_epi64(t[i], t[i + 2]);
      u[i + 1] = _mm256_unpackhi_epi64(t[i], t[i + 2]);
      u[i + 2] = _mm256_unpacklo_epi64(t[i + 1], t[i + 3]);
      u[i + 3] = _mm256_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    for (int i = 0; i < 4; ++i) {
      r[i] = _mm256_permute2x128_si256(u[i], u[i + 4], 0x20);
      r[i + 4] = _mm256_permute2x128_si256(u[i], u[i + 4], 0x31);
    }
  }

  // One panel from a source whose lines are contiguous (element (line, p) at
  // line·ld + p): 8 lines' runs of 16 values become 8 words each, and the 8×8
  // block of words is transposed into 8 panel rows.
  static void pack_line_runs(const GemmOperand& x, std::int64_t first, std::int64_t count, std::int64_t p0,
                             std::int64_t kc, std::int64_t width, Elem* panel) {
    alignas(64) float scratch[8][kMaxDepth];  // 16-bit lines widened
    const std::int64_t pairs = depth(kc);
    for (std::int64_t group = 0; group < width; group += 8) {
      const float* line[8];
      for (int i = 0; i < 8; ++i) {
        const std::int64_t w = group + i;
        line[i] = w < count ? values_at(x, (first + w) * x.ld + p0, kc, scratch[i]) : nullptr;
      }
      static_assert(kMr % 8 == 4 && kNr % 8 == 0, "panels split into groups of 8 columns and at most one of 4");
      // A 12-wide panel's second group has 4 columns: it stores 4 words
      // (128 bits) instead of 8.
      const bool four = width - group == 4;
      for (std::int64_t q0 = 0; q0 < pairs; q0 += 8) {
        const __mmask16 valid = first_lanes(kc - 2 * q0);
        __m256i words[8];
        for (int i = 0; i < 8; ++i) {
          words[i] = line[i] ? _mm512_cvtepi32_epi16(bf16_bits(_mm512_maskz_loadu_ps(valid, line[i] + 2 * q0)))
                             : _mm256_setzero_si256();
        }
        transpose8(words);
        for (std::int64_t i = 0; i < std::min<std::int64_t>(8, pairs - q0); ++i) {
          void* target = panel + (q0 + i) * width + group;
          if (four) {
            _mm_storeu_si128(static_cast<__m128i*>(target), _mm256_castsi256_si128(words[i]));
          } else {
            _mm256_storeu_si256(static_cast<__m256i*>(target), words[i]);
          }
        }
      }
    }
  }

  // tile (kMr×kNr) = or += alpha·Σ_q Σ_{k ∈ pair q} a_panel[k]ᵀ·b_panel[k], in fp32.
  __attribute__((target("avx512f,avx512bf16"))) static void micro(std::int64_t pairs, const Elem* a_panel,
                                                                   const Elem* b_panel, float* tile, std::int64_t ldt,
                                                                   float alpha, bool accumulate) {
    prefetch_tile(tile, ldt);
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

// Where b comes prepacked, its panels for this product's columns from col0
// and depths from depth0 (bf16 only).
struct Prepacked {
  const PackedBf16Operand* operand = nullptr;
  std::int64_t col0 = 0, depth0 = 0;
};

// The three-level blocked product with kernel K (F32Kernel or Bf16Kernel).
template <typename K>
void run_blocked(std::int64_t m, std::int64_t n, std::int64_t k, const GemmOperand& a, const GemmOperand& b, float* c,
                 std::int64_t ldc, float alpha, float beta, Prepacked prepacked = {}) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    if (beta == 0.0f)
      for (std::int64_t i = 0; i < m; ++i) std::fill_n(c + i * ldc, n, 0.0f);
    return;
  }
  const std::int64_t nc_max = std::min(kNc, (n + kNr - 1) / kNr * kNr);
  const std::int64_t mc_max = std::min(kMc, (m + kMr - 1) / kMr * kMr);
  const std::int64_t kc_max = std::min(K::kKc, k);
  auto packed_b = aligned<typename K::Elem>(prepacked.operand ? 0 : K::depth(kc_max) * nc_max);
  auto packed_a = aligned<typename K::Elem>(K::depth(kc_max) * mc_max);
  alignas(64) float edge[kMr * kNr];  // partial tiles go through here

  for (std::int64_t j0 = 0; j0 < n; j0 += kNc) {
    const std::int64_t nc = std::min(kNc, n - j0);
    for (std::int64_t p0 = 0; p0 < k; p0 += K::kKc) {
      const std::int64_t kc = std::min(K::kKc, k - p0), depth = K::depth(kc);
      const bool accumulate = p0 > 0 || beta != 0.0f;
      const typename K::Elem* b_panels = packed_b.get();
      if constexpr (std::is_same_v<K, Bf16Kernel>) {
        if (prepacked.operand) b_panels = prepacked.operand->panels(prepacked.col0 + j0, prepacked.depth0 + p0);
      }
      if (!prepacked.operand) K::pack(b, !b.transposed, j0, nc, p0, kc, kNr, packed_b.get());
      for (std::int64_t i0 = 0; i0 < m; i0 += kMc) {
        const std::int64_t mc = std::min(kMc, m - i0);
        K::pack(a, a.transposed, i0, mc, p0, kc, kMr, packed_a.get());
        for (std::int64_t jr = 0; jr < nc; jr += kNr) {
          const std::int64_t cols = std::min(kNr, nc - jr);
          for (std::int64_t ir = 0; ir < mc; ir += kMr) {
            const std::int64_t rows = std::min(kMr, mc - ir);
            float* target = c + (i0 + ir) * ldc + j0 + jr;
            const auto* a_panel = packed_a.get() + ir * depth;
            const auto* b_panel = b_panels + jr * depth;
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

static_assert(PackedBf16Operand::kPanelWidth == kNr && PackedBf16Operand::kDepthBlock == Bf16Kernel::kKc);

PackedBf16Operand::PackedBf16Operand(std::int64_t k, std::int64_t n, const GemmOperand& b)
    : k_(k), n_(n), padded_n_((n + kNr - 1) / kNr * kNr) {
  if (!packed_gemm_bf16_available()) throw std::logic_error("PackedBf16Operand: this CPU has no AVX-512 BF16");
  const std::int64_t blocks = (k + kDepthBlock - 1) / kDepthBlock;
  words_ = blocks == 0 ? 0 : offset(padded_n_, (blocks - 1) * kDepthBlock);  // past the last block's last panel
  const auto bytes = static_cast<std::size_t>(std::max<std::int64_t>(words_, 1)) * sizeof(std::uint32_t);
  data_.reset(static_cast<std::uint32_t*>(::operator new[](bytes, std::align_val_t(64))));
  // Each depth block × run of kNc columns is one packing call, as run_blocked makes them.
  const std::int64_t runs = (n + kNc - 1) / kNc;
#pragma omp parallel for collapse(2) schedule(dynamic)
  for (std::int64_t block = 0; block < blocks; ++block) {
    for (std::int64_t run = 0; run < runs; ++run) {
      const std::int64_t p0 = block * kDepthBlock, j0 = run * kNc;
      const std::int64_t kc = std::min(kDepthBlock, k - p0), nc = std::min(kNc, n - j0);
      Bf16Kernel::pack(b, !b.transposed, j0, nc, p0, kc, kNr, data_.get() + offset(j0, p0));
    }
  }
}

void PackedBf16Operand::AlignedFree::operator()(std::uint32_t* words) const {
  ::operator delete[](words, std::align_val_t(64));
}

// Depth blocks follow each other, each holding all columns' panels.
std::int64_t PackedBf16Operand::offset(std::int64_t col, std::int64_t depth) const {
  const std::int64_t kc = std::min(kDepthBlock, k_ - depth);
  return depth / kDepthBlock * Bf16Kernel::depth(kDepthBlock) * padded_n_ + col * Bf16Kernel::depth(kc);
}

const std::uint32_t* PackedBf16Operand::panels(std::int64_t col, std::int64_t depth) const {
  return data_.get() + offset(col, depth);
}

void packed_gemm_bf16(std::int64_t m, std::int64_t n, std::int64_t k, GemmOperand a, const PackedBf16Operand& b,
                      std::int64_t col0, std::int64_t depth0, float* c, std::int64_t ldc, float alpha, float beta) {
  const bool aligned_start = col0 % kNr == 0 && depth0 % PackedBf16Operand::kDepthBlock == 0;
  const bool whole_blocks = depth0 + k == b.depth() || k % PackedBf16Operand::kDepthBlock == 0;
  if (!aligned_start || !whole_blocks || col0 + n > b.columns() || depth0 + k > b.depth()) {
    throw std::logic_error("packed_gemm_bf16: the product does not start on the prepacked operand's panels");
  }
  run_blocked<Bf16Kernel>(m, n, k, a, GemmOperand{}, c, ldc, alpha, beta, Prepacked{&b, col0, depth0});
}

#else  // no AVX-512: gemm.cpp keeps Eigen's kernel

PackedBf16Operand::PackedBf16Operand(std::int64_t, std::int64_t, const GemmOperand&) {
  throw std::logic_error("PackedBf16Operand: this build has no AVX-512 kernel");
}
void PackedBf16Operand::AlignedFree::operator()(std::uint32_t* words) const {
  ::operator delete[](words, std::align_val_t(64));
}
std::int64_t PackedBf16Operand::offset(std::int64_t, std::int64_t) const { return 0; }
const std::uint32_t* PackedBf16Operand::panels(std::int64_t, std::int64_t) const { return nullptr; }
void packed_gemm_bf16(std::int64_t, std::int64_t, std::int64_t, GemmOperand, const PackedBf16Operand&, std::int64_t,
                      std::int64_t, float*, std::int64_t, float, float) {
  throw std::logic_error("packed_gemm_bf16: this build has no AVX-512 kernel (check packed_gemm_bf16_available())");
}

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
