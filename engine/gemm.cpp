// Matrix products split over the OpenMP team (see gemm.h for why).
#include "engine/gemm.h"

#include <omp.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "engine/error.h"
#include "engine/gemm_kernel.h"

namespace lorafarm::engine {
namespace {

using ConstRef = Eigen::Ref<const Matrix>;

// Below this many multiply-adds a product runs on the calling thread (Eigen
// itself would not split it either).
constexpr double kMinParallelWork = 1 << 18;

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
bool worth_packing(Eigen::Index rn, Eigen::Index cn, Eigen::Index kn) {
  return packed_gemm_available() && rn >= 24 && cn >= 64 && kn >= 32;
}

// c[r0 : r0+rn, c0 : c0+cn] (=|+=) alpha·op(a)[r0 : r0+rn, k0 : k0+kn]·op(b)[k0 : k0+kn, c0 : c0+cn].

template <typename C>
void block_product(const ConstRef& a, bool ta, const ConstRef& b, bool tb, C&& dst, Eigen::Index r0, Eigen::Index rn,
                   Eigen::Index c0, Eigen::Index cn, Eigen::Index k0, Eigen::Index kn, float alpha, float beta) {
  if (worth_packing(rn, cn, kn)) {
    // Element (i, p) of op(a) is a(i, p), or a(p, i) when transposed; likewise b.
    const GemmOperand pa{ta ? a.data() + k0 * a.outerStride() + r0 : a.data() + r0 * a.outerStride() + k0,
                         a.outerStride(), ta};
    const GemmOperand pb{tb ? b.data() + c0 * b.outerStride() + k0 : b.data() + k0 * b.outerStride() + c0,
                         b.outerStride(), tb};
    packed_gemm(rn, cn, kn, pa, pb, dst.data(), dst.outerStride(), alpha, beta);
    return;
  }
  if (!ta && !tb) {
    product(a.block(r0, k0, rn, kn), b.block(k0, c0, kn, cn), dst, alpha, beta);
  } else if (!ta) {
    product(a.block(r0, k0, rn, kn), b.block(c0, k0, cn, kn).transpose(), dst, alpha, beta);
  } else if (!tb) {
    product(a.block(k0, r0, kn, rn).transpose(), b.block(k0, c0, kn, cn), dst, alpha, beta);
  } else {
    product(a.block(k0, r0, kn, rn).transpose(), b.block(c0, k0, cn, kn).transpose(), dst, alpha, beta);
  }
}

// The part of [0, extent) that thread `t` of `team` takes, in SIMD-friendly multiples of 16.
std::pair<Eigen::Index, Eigen::Index> share(Eigen::Index extent, int t, int team) {
  const Eigen::Index chunk = ((extent + team - 1) / team + 15) / 16 * 16;
  const Eigen::Index first = std::min(extent, chunk * t);
  return {first, std::min(chunk, extent - first)};
}

}  // namespace

void gemm(ConstRef a, bool transpose_a, ConstRef b, bool transpose_b, Eigen::Ref<Matrix> c, float alpha, float beta) {
  const Eigen::Index m = transpose_a ? a.cols() : a.rows();
  const Eigen::Index k = transpose_a ? a.rows() : a.cols();
  const Eigen::Index n = transpose_b ? b.rows() : b.cols();
  if ((transpose_b ? b.cols() : b.rows()) != k || c.rows() != m || c.cols() != n) {
    throw InvalidInput("gemm: shapes do not match");
  }
  if (beta != 0.0f && beta != 1.0f) throw InvalidInput("gemm: beta must be 0 or 1");
  if (k == 0) {
    if (beta == 0.0f) c.setZero();
    return;
  }
  const double work = static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  if (threads == 1 || work < kMinParallelWork) {
    block_product(a, transpose_a, b, transpose_b, c.block(0, 0, m, n), 0, m, 0, n, 0, k, alpha, beta);
    return;
  }
  if (k > 4 * std::max(m, n)) {
    // A long inner dimension and a small result (e.g. the vocabulary head's
    // input gradient): each thread sums its slice of k into a private
    // partial, and the partials are added in thread order.
    std::vector<Matrix> partial(static_cast<std::size_t>(threads));
#pragma omp parallel num_threads(threads)
    {
      const int team = omp_get_num_threads(), t = omp_get_thread_num();
      const auto [k0, kn] = share(k, t, team);
      Matrix& mine = partial[static_cast<std::size_t>(t)];
      mine.resize(m, n);
      if (kn > 0) {
        block_product(a, transpose_a, b, transpose_b, mine, 0, m, 0, n, k0, kn, alpha, 0.0f);
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
    return;
  }
  // Otherwise split the longer side of c: each thread packs the whole other
  // operand, so the duplicated packing stays the smaller share of the work.
  const bool split_rows = m >= n;
#pragma omp parallel num_threads(threads)
  {
    const auto [first, count] = share(split_rows ? m : n, omp_get_thread_num(), omp_get_num_threads());
    if (count > 0) {
      if (split_rows) {
        block_product(a, transpose_a, b, transpose_b, c.middleRows(first, count), first, count, 0, n, 0, k, alpha, beta);
      } else {
        block_product(a, transpose_a, b, transpose_b, c.middleCols(first, count), 0, m, first, count, 0, k, alpha, beta);
      }
    }
  }
}

void matmul(ConstRef a, bool transpose_a, ConstRef b, bool transpose_b, Matrix& c, float alpha) {
  c.resize(transpose_a ? a.cols() : a.rows(), transpose_b ? b.rows() : b.cols());
  gemm(a, transpose_a, b, transpose_b, c, alpha, 0.0f);
}

}  // namespace lorafarm::engine
