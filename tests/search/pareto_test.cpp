// Pareto dominance, fronts, hypervolume and ParEGO on hand-computed cases.
#include "search/pareto.h"

#include <gtest/gtest.h>

namespace lorafarm::search {
namespace {

Eigen::MatrixXd rows(std::initializer_list<std::initializer_list<double>> r) {
  Eigen::MatrixXd m(static_cast<Eigen::Index>(r.size()), static_cast<Eigen::Index>(r.begin()->size()));
  Eigen::Index i = 0;
  for (const auto& row : r) {
    Eigen::Index j = 0;
    for (double v : row) m(i, j++) = v;
    ++i;
  }
  return m;
}

TEST(Pareto, DominanceNeedsOneStrictImprovement) {
  EXPECT_TRUE(dominates(Eigen::Vector2d(1, 2), Eigen::Vector2d(1, 3)));
  EXPECT_FALSE(dominates(Eigen::Vector2d(1, 2), Eigen::Vector2d(1, 2)));
  EXPECT_FALSE(dominates(Eigen::Vector2d(1, 3), Eigen::Vector2d(2, 2)));
}

TEST(Pareto, NonDominatedSortFindsTheFronts) {
  // (1,4) (2,2) (4,1) form front 0; (3,3) is dominated by (2,2); (4,4) by (3,3).
  const auto fronts = non_dominated_sort(rows({{3, 3}, {1, 4}, {4, 4}, {2, 2}, {4, 1}}));
  ASSERT_EQ(fronts.size(), 3u);
  EXPECT_EQ(fronts[0], (std::vector<int>{1, 3, 4}));
  EXPECT_EQ(fronts[1], (std::vector<int>{0}));
  EXPECT_EQ(fronts[2], (std::vector<int>{2}));
  EXPECT_EQ(pareto_front(rows({{3, 3}, {1, 4}})), (std::vector<int>{0, 1}));
}

TEST(Pareto, HypervolumeIn2dMatchesHandComputation) {
  // Reference (5,5): (1,4) adds 4×1, (2,2) adds 3×2, (4,1) adds 1×1 → 11; (3,3) adds nothing.
  EXPECT_DOUBLE_EQ(hypervolume(rows({{1, 4}, {2, 2}, {4, 1}, {3, 3}}), Eigen::Vector2d(5, 5)), 11.0);
  // Points outside the reference box are ignored.
  EXPECT_DOUBLE_EQ(hypervolume(rows({{6, 0}, {2, 2}}), Eigen::Vector2d(5, 5)), 9.0);
  EXPECT_DOUBLE_EQ(hypervolume(Eigen::MatrixXd(0, 2), Eigen::Vector2d(5, 5)), 0.0);
}

TEST(Pareto, HypervolumeIn3dMatchesInclusionExclusion) {
  // Boxes to (2,2,2) from a=(0,1,1) and b=(1,0,0): 2·1·1 + 1·2·2 - overlap 1·1·1 = 5.
  EXPECT_DOUBLE_EQ(hypervolume(rows({{0, 1, 1}, {1, 0, 0}}), Eigen::Vector3d(2, 2, 2)), 5.0);
  // A single point: its box.
  EXPECT_DOUBLE_EQ(hypervolume(rows({{0.5, 1, 1.5}}), Eigen::Vector3d(2, 2, 2)), 1.5 * 1 * 0.5);
  EXPECT_THROW(hypervolume(rows({{1, 1, 1, 1}}), Eigen::Vector4d(2, 2, 2, 2)), std::invalid_argument);
}

TEST(Pareto, ParegoScalarisationMatchesHandComputation) {
  // Scaled to [0,1] per column: (0,1), (1,0), (0.5,0.5). w = (0.25, 0.75), ρ = 0.1.
  const Eigen::VectorXd s = parego_scalarise(rows({{0, 10}, {4, 0}, {2, 5}}), Eigen::Vector2d(0.25, 0.75), 0.1);
  EXPECT_NEAR(s(0), 0.75 + 0.1 * 0.75, 1e-12);
  EXPECT_NEAR(s(1), 0.25 + 0.1 * 0.25, 1e-12);
  EXPECT_NEAR(s(2), 0.375 + 0.1 * 0.5, 1e-12);
  std::mt19937_64 rng(1);
  const Eigen::VectorXd w = random_simplex_weights(3, rng);
  EXPECT_NEAR(w.sum(), 1.0, 1e-12);
  EXPECT_TRUE((w.array() > 0).all());
}

}  // namespace
}  // namespace lorafarm::search
