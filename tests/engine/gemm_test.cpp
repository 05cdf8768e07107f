// Matrix products against a double-precision reference: the packed AVX-512
// kernel (partial tiles, every transpose, alpha and beta) and the threaded
// gemm() around it.
#include "engine/gemm.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <random>

#include "engine/gemm_kernel.h"

namespace lorafarm::engine {
namespace {

Matrix random_matrix(Eigen::Index rows, Eigen::Index cols, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  Matrix x(rows, cols);
  for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = u(rng);
  return x;
}

// alpha·op(a)·op(b) + beta·c0 in double precision.
Eigen::MatrixXd reference(const Matrix& a, bool ta, const Matrix& b, bool tb, const Matrix& c0, float alpha, float beta) {
  Eigen::MatrixXd da = a.cast<double>(), db = b.cast<double>();
  if (ta) da.transposeInPlace();
  if (tb) db.transposeInPlace();
  return double(alpha) * da * db + double(beta) * c0.cast<double>();
}

struct Shape {
  Eigen::Index m, n, k;
};

// Sizes around the kernel's 12×32 tile, its 256-deep k passes and its
// 192-row / 1024-column packing blocks, plus thin ones Eigen keeps.
const Shape kShapes[] = {{1, 1, 1},    {13, 33, 7},     {24, 64, 32},   {25, 65, 33},     {100, 70, 300},
                         {193, 97, 257}, {37, 1030, 64}, {200, 8, 96},  {8, 200, 96},    {64, 64, 600}};

TEST(Gemm, MatchesADoublePrecisionProductForEveryTransposeAndShape) {
  std::mt19937 rng(7);
  for (const auto& s : kShapes) {
    for (int flags = 0; flags < 4; ++flags) {
      const bool ta = flags & 1, tb = flags & 2;
      const Matrix a = ta ? random_matrix(s.k, s.m, rng) : random_matrix(s.m, s.k, rng);
      const Matrix b = tb ? random_matrix(s.n, s.k, rng) : random_matrix(s.k, s.n, rng);
      const Matrix c0 = random_matrix(s.m, s.n, rng);
      for (const float beta : {0.0f, 1.0f}) {
        Matrix c = c0;
        gemm(a, ta, b, tb, c, 0.5f, beta);
        const Eigen::MatrixXd want = reference(a, ta, b, tb, c0, 0.5f, beta);
        // fp32 sums of k terms of size ≤ 1: error grows like √k·ε.
        const double tolerance = 1e-5 * std::sqrt(double(s.k)) * 4;
        EXPECT_LT((c.cast<double>() - want).cwiseAbs().maxCoeff(), tolerance)
            << s.m << "×" << s.n << "×" << s.k << " ta=" << ta << " tb=" << tb << " beta=" << beta;
      }
    }
  }
}

TEST(Gemm, PackedKernelHandlesStridedBlocksAndLeavesTheRestAlone) {
  if (!packed_gemm_available()) GTEST_SKIP() << "no AVX-512 in this build: Eigen's kernel is used";
  std::mt19937 rng(11);
  const Matrix a = random_matrix(50, 80, rng), b = random_matrix(80, 90, rng);
  Matrix c = Matrix::Constant(60, 100, 3.0f);
  // c[5:5+40, 7:7+70] = a[3:43, 10:10+64]·b[10:74, 2:72]
  packed_gemm(40, 70, 64, {a.data() + 3 * 80 + 10, 80, false}, {b.data() + 10 * 90 + 2, 90, false},
              c.data() + 5 * 100 + 7, 100, 1.0f, 0.0f);
  const Eigen::MatrixXd want = a.block(3, 10, 40, 64).cast<double>() * b.block(10, 2, 64, 70).cast<double>();
  EXPECT_LT((c.block(5, 7, 40, 70).cast<double>() - want).cwiseAbs().maxCoeff(), 1e-4);
  Matrix outside = c;
  outside.block(5, 7, 40, 70).setConstant(3.0f);
  EXPECT_TRUE((outside.array() == 3.0f).all()) << "wrote outside its block";
}

TEST(Gemm, ThreadedResultsAreBitIdenticalRunToRun) {
  std::mt19937 rng(3);
  const Matrix a = random_matrix(300, 500, rng), b = random_matrix(500, 260, rng);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(2);
  Matrix first, second;
  matmul(a, false, b, false, first);
  matmul(a, false, b, false, second);
  omp_set_num_threads(saved);
  EXPECT_TRUE((first.array() == second.array()).all());
}

}  // namespace
}  // namespace lorafarm::engine
