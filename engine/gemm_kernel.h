// A single-threaded packed SGEMM for AVX-512 machines, used by gemm.cpp for
// each thread's block of a product instead of Eigen's 48×4 kernel, and its
// bf16 twin (AVX-512 BF16 `vdpbf16ps`: bf16 products, fp32 sums).
//
// Why: on the 2-core AVX-512 machines lorafarm is measured on, Eigen 3.4's
// kernel reaches about 65 % of the FMA peak on the model's products; this one
// keeps a 12×32 tile of the result in 24 vector registers (12 broadcasts and 2
// loads feed 24 FMAs per step of k) and gets closer to the peak. The layout
// follows the usual three-level blocking (Goto and van de Geijn, "Anatomy of
// high-performance matrix multiplication", ACM TOMS 34(3), 2008).
#pragma once

#include <cstdint>
#include <memory>

#include "engine/half_matrix.h"

namespace lorafarm::engine {

// Row-major operand: element (i, j) of op(x) is data[i·ld + j], or
// data[j·ld + i] when transposed. With `half` set the values are 16-bit
// (half[...] instead of data[...]) and are widened while packing.
struct GemmOperand {
  const float* data = nullptr;
  std::int64_t ld = 0;
  bool transposed = false;
  const std::uint16_t* half = nullptr;
  HalfType half_type = HalfType::kBF16;
};

// Whether this build and CPU run packed_gemm (AVX-512F compiled in).
bool packed_gemm_available();
// Whether packed_gemm_bf16 runs here (AVX-512F built in, AVX-512 BF16 in the CPU).
bool packed_gemm_bf16_available();

// c[m×n] (row stride ldc) = alpha·op(a)[m×k]·op(b)[k×n] + beta·c, beta 0 or 1.
// Every element is summed over k in the same order whatever the blocking
// around it, so results depend only on the shapes, not on where a thread's
// block starts.
void packed_gemm(std::int64_t m, std::int64_t n, std::int64_t k, GemmOperand a, GemmOperand b, float* c,
                 std::int64_t ldc, float alpha, float beta);

// The same product with a and b rounded to bf16 (to nearest, ties to even)
// and summed in fp32, two steps of k per instruction.
void packed_gemm_bf16(std::int64_t m, std::int64_t n, std::int64_t k, GemmOperand a, GemmOperand b, float* c,
                      std::int64_t ldc, float alpha, float beta);

// op(b) (k×n) rounded to bf16 and packed once into packed_gemm_bf16's panels,
// for several products that share it (the vocabulary head over its row
// chunks), so each skips rounding and packing it again. It holds 2 bytes a
// value of op(b) (columns padded to a panel) and copies nothing else: b may go.
class PackedBf16Operand {
 public:
  static constexpr std::int64_t kPanelWidth = 32;   // a product's first column is a multiple of this
  static constexpr std::int64_t kDepthBlock = 512;  // and its first depth a multiple of this

  PackedBf16Operand(std::int64_t k, std::int64_t n, const GemmOperand& b);

  std::int64_t depth() const { return k_; }
  std::int64_t columns() const { return n_; }
  std::int64_t bytes() const { return words_ * 4; }
  // The panels of columns from `col` in the depth block that starts at `depth`.
  const std::uint32_t* panels(std::int64_t col, std::int64_t depth) const;

 private:
  std::int64_t offset(std::int64_t col, std::int64_t depth) const;  // of panels(col, depth), in words

  struct AlignedFree {
    void operator()(std::uint32_t* words) const;
  };
  std::int64_t k_ = 0, n_ = 0, padded_n_ = 0, words_ = 0;
  std::unique_ptr<std::uint32_t[], AlignedFree> data_;  // 64-byte aligned
};

// packed_gemm_bf16 with op(b) prepacked: the product takes op(b)'s columns
// [col0, col0+n) and depths [depth0, depth0+k); col0 and depth0 are multiples
// of the operand's panel width and depth block, and k reaches the end of op(b)
// or is itself a multiple of the depth block.
void packed_gemm_bf16(std::int64_t m, std::int64_t n, std::int64_t k, GemmOperand a, const PackedBf16Operand& b,
                      std::int64_t col0, std::int64_t depth0, float* c, std::int64_t ldc, float alpha, float beta);

}  // namespace lorafarm::engine
