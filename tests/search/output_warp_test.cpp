// The Yeo-Johnson output warp: known values, monotonicity, and the exponent
// it picks for Gaussian and heavy-tailed data.
#include "search/output_warp.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace lorafarm::search {
namespace {

TEST(YeoJohnson, MatchesTheDefinition) {
  EXPECT_NEAR(yeo_johnson(3.0, 0.5), (std::sqrt(4.0) - 1) / 0.5, 1e-12);
  EXPECT_NEAR(yeo_johnson(3.0, 0.0), std::log(4.0), 1e-12);
  EXPECT_NEAR(yeo_johnson(-3.0, 0.5), -(std::pow(4.0, 1.5) - 1) / 1.5, 1e-12);
  EXPECT_NEAR(yeo_johnson(-3.0, 2.0), -std::log(4.0), 1e-12);
  EXPECT_NEAR(yeo_johnson(1.7, 1.0), 1.7, 1e-12);
  EXPECT_NEAR(yeo_johnson(-1.7, 1.0), -1.7, 1e-12);
}

TEST(OutputWarp, IsMonotoneAndStandardised) {
  std::mt19937_64 rng(1);
  std::lognormal_distribution<double> d(0.0, 2.0);
  Eigen::VectorXd y(200);
  for (auto& v : y) v = d(rng);
  const OutputWarp w = OutputWarp::fit(y);
  const Eigen::VectorXd z = w(y);
  EXPECT_NEAR(z.mean(), 0.0, 1e-9);
  EXPECT_NEAR(std::sqrt((z.array() - z.mean()).square().sum() / 199.0), 1.0, 1e-9);
  for (double a = 0.01; a < 100; a *= 1.7) EXPECT_LT(w(a), w(a * 1.1));
}

TEST(OutputWarp, CompressesHeavyRightTailsAndLeavesGaussianDataAlone) {
  std::mt19937_64 rng(2);
  std::lognormal_distribution<double> heavy(0.0, 1.5);
  std::normal_distribution<double> normal(5.0, 2.0);
  Eigen::VectorXd h(300), g(300);
  for (auto& v : h) v = heavy(rng);
  for (auto& v : g) v = normal(rng);
  EXPECT_LT(OutputWarp::fit(h).lambda(), 0.5);
  EXPECT_NEAR(OutputWarp::fit(g).lambda(), 1.0, 0.3);
  // After the warp the largest value is no longer an extreme outlier.
  const Eigen::VectorXd z = OutputWarp::fit(h)(h);
  EXPECT_LT(z.maxCoeff(), 4.0);
}

TEST(OutputWarp, ConstantValuesMapToZero) {
  const OutputWarp w = OutputWarp::fit(Eigen::VectorXd::Constant(5, 3.0));
  EXPECT_EQ(w.lambda(), 1.0);
  EXPECT_EQ(w(3.0), 0.0);
}

}  // namespace
}  // namespace lorafarm::search
