// Matrix products split over the OpenMP team (see gemm.h for why).
#include "engine/gemm.h"

#include <omp.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "engine/error.h"
#include "engine/gemm_kernel.h"
#include "engine/precision.h"

namespace lorafarm::engine {
namespace {

using ConstRef = Eigen::Ref<const Matrix>;
using ConstMap = Eigen::Map<const Matrix, 0, Eigen::OuterStride<>>;

// Below this many multiply-adds a product runs on the calling thread (Eigen
// itself would not split it either).
constexpr double kMinParallelWork = 1 << 18;
// Columns of a 16-bit operand widened at a time where Eigen's kernel runs.
constexpr Eigen::Index kWidenChunk = 256;

// An operand as stored, row-major with row stride ld: float32, or 16-bit.
struct Operand {
  const float* f32 = nullptr;
  const uint16_t* half = nullptr;
  HalfType type = HalfType::kBF16;
  Eigen::Index rows = 0, cols = 0, ld = 0;

  static Operand of(const ConstRef& m) { return {m.data(), nullptr, HalfType::kBF16, m.rows(), m.cols(), m.outerStride()}; }
  static Operand of(const WeightRef& w) {
    if (w.half) return {nullptr, w.half->bits.data(), w.half->type, w.rows, w.cols, w.cols};
    return {w.f32, nullptr, HalfType::kBF16, w.rows, w.cols, w.cols};
  }
  ConstMap map() const { return ConstMap(f32, rows, cols, Eigen::OuterStride<>(ld)); }
  // The packed kernel's view starting at stored element (row, col).
  GemmOperand packed(Eigen::Index row, Eigen::Index col, bool transposed) const {
    const Eigen::Index offset = row * ld + col;
    return {f32 ? f32 + offset : nullptr, ld, transposed, half ? half + offset : nullptr, type};
  }
  // Stored rows [r0, r0+rn) × cols [c0, c0+cn), widened to float32.
  Matrix widened(Eigen::Index r0, Eigen::Index rn, Eigen::Index c0, Eigen::Index cn) const {
    Matrix out(rn, cn);
    for (Eigen::Index r = 0; r < rn; ++r) widen_halves(half + (r0 + r) * ld + c0, cn, type, out.data() + r * cn);
    return out;
  }
};

template <typename A, typename B, typename C>
void product(const A& a, const B& b, C&& c, float alpha, float beta) {
  if (beta == 0.0f) {
    c.noalias() = alpha * a * b;
  } else {
    c.noalias() += alpha * a * b;
  }
}

// The packed kernel pays for packing and for padding tiles to 12×32; Eigen's
// kernel keeps thin products (LoRA's rank dimension) and small ones.
// bf16's kernel is about twice as fast, so it pays for padding a narrower
// result (an attention head of 48 columns pads to 64).
bool worth_packing(Eigen::Index rn, Eigen::Index cn, Eigen::Index kn) {
  const Eigen::Index min_cols = product_precision() == Precision::kBF16 ? 32 : 64;
  return packed_gemm_available() && rn >= 24 && cn >= min_cols && kn >= 32;
}

// Eigen's kernel on float32 operands: dst (=|+=) alpha·op(a)[r0.., ak0..]·op(b)[bk0.., c0..].
template <typename C>
void eigen_block(const ConstMap& a, bool ta, const ConstMap& b, bool tb, C&& dst, Eigen::Index r0, Eigen::Index rn,
                 Eigen::Index c0, Eigen::Index cn, Eigen::Index ak0, Eigen::Index bk0, Eigen::Index kn, float alpha,
                 float beta) {
  if (!ta && !tb) {
    product(a.block(r0, ak0, rn, kn), b.block(bk0, c0, kn, cn), dst, alpha, beta);
  } else if (!ta) {
    product(a.block(r0, ak0, rn, kn), b.block(c0, bk0, cn, kn).transpose(), dst, alpha, beta);
  } else if (!tb) {
    product(a.block(ak0, r0, kn, rn).transpose(), b.block(bk0, c0, kn, cn), dst, alpha, beta);
  } else {
    product(a.block(ak0, r0, kn, rn).transpose(), b.block(c0, bk0, cn, kn).transpose(), dst, alpha, beta);
  }
}

// c[r0 : r0+rn, c0 : c0+cn] (=|+=) alpha·op(a)[r0 : r0+rn, k0 : k0+kn]·op(b)[k0 : k0+kn, c0 : c0+cn].
template <typename C>
void block_product(const Operand& a, bool ta, const Operand& b, bool tb, C&& dst, Eigen::Index r0, Eigen::Index rn,
                   Eigen::Index c0, Eigen::Index cn, Eigen::Index k0, Eigen::Index kn, float alpha, float beta,
                   const PackedBf16Operand* prepacked) {
  if (prepacked && rn > 0 && cn > 0) {
    const GemmOperand pa = ta ? a.packed(k0, r0, true) : a.packed(r0, k0, false);
    packed_gemm_bf16(rn, cn, kn, pa, *prepacked, c0, k0, dst.data(), dst.outerStride(), alpha, beta);
    return;
  }
  if (worth_packing(rn, cn, kn)) {
    // Element (i, p) of op(a) is a(i, p), or a(p, i) when transposed; likewise b.
    const GemmOperand pa = ta ? a.packed(k0, r0, true) : a.packed(r0, k0, false);
    const GemmOperand pb = tb ? b.packed(c0, k0, true) : b.packed(k0, c0, false);
    if (product_precision() == Precision::kBF16) {
      packed_gemm_bf16(rn, cn, kn, pa, pb, dst.data(), dst.outerStride(), alpha, beta);
    } else {
      packed_gemm(rn, cn, kn, pa, pb, dst.data(), dst.outerStride(), alpha, beta);
    }
    return;
  }
  if (!b.half) {
    eigen_block(a.map(), ta, b.map(), tb, dst, r0, rn, c0, cn, k0, k0, kn, alpha, beta);
    return;
  }
  // A 16-bit b (a weight; a is never one) for Eigen's kernel: a strip of columns of op(b) at a time.
  for (Eigen::Index c = 0; c < cn; c += kWidenChunk) {
    const Eigen::Index count = std::min(kWidenChunk, cn - c);
    const Matrix wide = tb ? b.widened(c0 + c, count, k0, kn) : b.widened(k0, kn, c0 + c, count);
    const Operand w = Operand::of(ConstRef(wide));
    eigen_block(a.map(), ta, w.map(), tb, dst.middleCols(c, count), r0, rn, 0, count, k0, 0, kn, alpha, beta);
  }
}

// The part of [0, extent) that thread `t` of `team` takes, in multiples of
// `unit` (16 for SIMD; a prepacked operand's panel width or depth block).
std::pair<Eigen::Index, Eigen::Index> share(Eigen::Index extent, int t, int team, Eigen::Index unit = 16) {
  const Eigen::Index chunk = ((extent + team - 1) / team + unit - 1) / unit * unit;
  const Eigen::Index first = std::min(extent, chunk * t);
  return {first, std::min(chunk, extent - first)};
}

// A long inner dimension and a small result (e.g. the vocabulary head's input
// gradient): each thread sums its slice of k into a private partial, and the
// partials are added in thread order.
void split_inner(const Operand& a, bool ta, const Operand& b, bool tb, Eigen::Ref<Matrix> c, Eigen::Index m,
                 Eigen::Index n, Eigen::Index k, float alpha, float beta, int threads,
                 const PackedBf16Operand* prepacked) {
  std::vector<Matrix> partial(static_cast<std::size_t>(threads));
#pragma omp parallel num_threads(threads)
  {
    const int team = omp_get_num_threads(), t = omp_get_thread_num();
    const auto [k0, kn] = share(k, t, team, prepacked ? PackedBf16Operand::kDepthBlock : 16);
    Matrix& mine = partial[static_cast<std::size_t>(t)];
    mine.resize(m, n);
    if (kn > 0) {
      block_product(a, ta, b, tb, mine, 0, m, 0, n, k0, kn, alpha, 0.0f, prepacked);
    } else {
      mine.setZero();
    }
#pragma omp barrier
    const auto [r0, rn] = share(m, t, team);
    if (rn > 0) {
      auto rows = c.middleRows(r0, rn);
      if (beta == 0.0f) rows.setZero();
      for (int p = 0; p < team; ++p) rows += partial[static_cast<std::size_t>(p)].middleRows(r0, rn);
    }
  }
}

// `prepacked`, when set, is op(b) packed for bf16 products.
void run_gemm(const Operand& a, bool ta, const Operand& b, bool tb, Eigen::Ref<Matrix> c, float alpha, float beta,
              const PackedBf16Operand* prepacked = nullptr) {
  const Eigen::Index m = ta ? a.cols : a.rows;
  const Eigen::Index k = ta ? a.rows : a.cols;
  const Eigen::Index n = tb ? b.rows : b.cols;
  if ((tb ? b.cols : b.rows) != k || c.rows() != m || c.cols() != n) throw InvalidInput("gemm: shapes do not match");
  if (beta != 0.0f && beta != 1.0f) throw InvalidInput("gemm: beta must be 0 or 1");
  if (k == 0) {
    if (beta == 0.0f) c.setZero();
    return;
  }
  const double work = static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  if (threads == 1 || work < kMinParallelWork) {
    block_product(a, ta, b, tb, c.block(0, 0, m, n), 0, m, 0, n, 0, k, alpha, beta, prepacked);
    return;
  }
  if (k > 4 * std::max(m, n)) {
    split_inner(a, ta, b, tb, c, m, n, k, alpha, beta, threads, prepacked);
    return;
  }
  // Otherwise split the longer side of c: each thread packs the whole other
  // operand, so the duplicated packing stays the smaller share of the work.
  const bool split_rows = m >= n;
#pragma omp parallel num_threads(threads)
  {
    const Eigen::Index unit = prepacked && !split_rows ? PackedBf16Operand::kPanelWidth : 16;
    const auto [first, count] = share(split_rows ? m : n, omp_get_thread_num(), omp_get_num_threads(), unit);
    if (count > 0) {
      if (split_rows) {
        block_product(a, ta, b, tb, c.middleRows(first, count), first, count, 0, n, 0, k, alpha, beta, prepacked);
      } else {
        block_product(a, ta, b, tb, c.middleCols(first, count), 0, m, first, count, 0, k, alpha, beta, prepacked);
      }
    }
  }
}

}  // namespace

void gemm(ConstRef a, bool transpose_a, ConstRef b, bool transpose_b, Eigen::Ref<Matrix> c, float alpha, float beta) {
  run_gemm(Operand::of(a), transpose_a, Operand::of(b), transpose_b, c, alpha, beta);
}

void matmul(ConstRef a, bool transpose_a, ConstRef b, bool transpose_b, Matrix& c, float alpha) {
  c.resize(transpose_a ? a.cols() : a.rows(), transpose_b ? b.rows() : b.cols());
  gemm(a, transpose_a, b, transpose_b, c, alpha, 0.0f);
}

void weight_gemm(ConstRef a, bool transpose_a, const WeightRef& b, bool transpose_b, Eigen::Ref<Matrix> c, float alpha,
                 float beta) {
  run_gemm(Operand::of(a), transpose_a, Operand::of(b), transpose_b, c, alpha, beta);
}

PackedWeight::PackedWeight(const WeightRef& weight, bool transpose) : transposed_(transpose) {
  if (product_precision() != Precision::kBF16 || !packed_gemm_bf16_available()) return;
  const Operand w = Operand::of(weight);
  // op(w) is k×n: (cols × rows) when transposed.
  const Eigen::Index k = transpose ? w.cols : w.rows, n = transpose ? w.rows : w.cols;
  packed_ = std::make_unique<PackedBf16Operand>(k, n, w.packed(0, 0, transpose));
}

PackedWeight::PackedWeight(PackedWeight&&) noexcept = default;
PackedWeight& PackedWeight::operator=(PackedWeight&&) noexcept = default;
PackedWeight::~PackedWeight() = default;

std::int64_t PackedWeight::bytes() const { return packed_ ? packed_->bytes() : 0; }

void weight_gemm(ConstRef a, bool transpose_a, const WeightRef& b, bool transpose_b, const PackedWeight& packed,
                 Eigen::Ref<Matrix> c, float alpha, float beta) {
  if (!packed.empty() && packed.transposed() != transpose_b) {
    throw InvalidInput("weight_gemm: the packed weight was made for the other orientation");
  }
  const bool use = !packed.empty() && product_precision() == Precision::kBF16;
  run_gemm(Operand::of(a), transpose_a, Operand::of(b), transpose_b, c, alpha, beta, use ? packed.operand() : nullptr);
}

void weight_matmul(ConstRef a, bool transpose_a, const WeightRef& b, bool transpose_b, Matrix& c, float alpha) {
  c.resize(transpose_a ? a.cols() : a.rows(), transpose_b ? b.rows : b.cols);
  weight_gemm(a, transpose_a, b, transpose_b, c, alpha, 0.0f);
}

}  // namespace lorafarm::engine
