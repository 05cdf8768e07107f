// log-EI against the direct formula where that is accurate, its stability far
// in the tail, and the acquisition gradients against finite differences.
#include "search/acquisition.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <random>

namespace lorafarm::search {
namespace {

double phi(double z) { return std::exp(-0.5 * z * z) / std::sqrt(2 * std::numbers::pi); }
double Phi(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

TEST(LogExpectedImprovement, MatchesTheDirectFormulaWhereItIsAccurate) {
  for (double z = -5.0; z <= 5.0; z += 0.25) {
    const double direct = std::log(phi(z) + z * Phi(z));
    EXPECT_NEAR(log_h(z), direct, 1e-9 * std::max(1.0, std::abs(direct))) << "z=" << z;
  }
  // EI(μ, σ; best) = σ h((best - μ)/σ).
  EXPECT_NEAR(std::exp(log_expected_improvement(1.0, 0.5, 0.8)), 0.5 * (phi(-0.4) - 0.4 * Phi(-0.4)), 1e-12);
}

TEST(LogExpectedImprovement, StaysFiniteAndMonotoneFarInTheTail) {
  double previous = log_h(-1.0);
  for (double z : {-2.0, -10.0, -30.0, -40.0, -100.0, -999.0, -1001.0, -1e4, -1e6}) {
    const double v = log_h(z);
    ASSERT_TRUE(std::isfinite(v)) << "z=" << z;
    EXPECT_LT(v, previous) << "z=" << z;
    previous = v;
    // h(z) ≈ φ(z)/z² asymptotically.
    if (z <= -30.0) EXPECT_NEAR(v, -0.5 * z * z - 0.5 * std::log(2 * std::numbers::pi) - 2 * std::log(-z), 4.0 / (z * z));
  }
  // Continuous across the branch points (the slope there is ≈ |z|).
  for (double z : {-1.0, -1e3}) EXPECT_NEAR(log_h(z - 1e-9), log_h(z + 1e-9), 2e-9 * (1.0 - z) + 1e-12 * std::abs(log_h(z)));
}

TEST(LogExpectedImprovement, DerivativeMatchesFiniteDifferences) {
  for (double z : {-800.0, -40.0, -8.0, -1.5, -0.5, 0.0, 2.0}) {
    const double fd = (log_h(z + 1e-6) - log_h(z - 1e-6)) / 2e-6;
    EXPECT_NEAR(dlog_h(z), fd, 1e-5 * std::max(1.0, std::abs(fd))) << "z=" << z;
  }
}

TEST(LogNormalCdf, MatchesLogPhiAndItsTail) {
  for (double z = -30.0; z <= 5.0; z += 0.5) EXPECT_NEAR(log_ndtr(z), std::log(Phi(z)), 1e-9 * std::max(1.0, std::abs(std::log(Phi(z)))));
  EXPECT_TRUE(std::isfinite(log_ndtr(-200.0)));
  for (double z : {-60.0, -3.0, 1.0}) EXPECT_NEAR(dlog_ndtr(z), (log_ndtr(z + 1e-6) - log_ndtr(z - 1e-6)) / 2e-6, 1e-4 * std::abs(z) + 1e-5);
  EXPECT_NEAR(log_ndtr(-200.0), -20006.21728089819, 1e-8);  // scipy.special.log_ndtr
  // Reference values from scipy.special.erfcx, on both sides of the series switch at 25.
  EXPECT_NEAR(erfcx(10.0), 0.05614099274382259, 1e-15);
  EXPECT_NEAR(erfcx(25.0), 0.022549572432641357, 1e-15);
  EXPECT_NEAR(erfcx(30.0), 0.018795888861416754, 1e-15);
}

class AcquisitionGradient : public ::testing::TestWithParam<std::tuple<AcquisitionKind, bool>> {};

TEST_P(AcquisitionGradient, MatchesFiniteDifferencesAndBatchValues) {
  const auto [kind, with_feasibility] = GetParam();
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  Eigen::MatrixXd x(10, 2);
  for (int i = 0; i < 10; ++i) x.row(i) << u(rng), u(rng);
  const Eigen::VectorXd y = (3 * x.col(0).array()).sin() + x.col(1).array();
  const Eigen::VectorXd labels = (x.col(0).array() > 0.5).cast<double>() * 2 - 1;
  const GaussianProcess objective(x, y, GpHyperparameters::defaults(2));
  const GaussianProcess feasibility(x, labels, GpHyperparameters::defaults(2));
  const AcquisitionFunction acq(&objective, with_feasibility ? &feasibility : nullptr, y.minCoeff(),
                                {kind, 2.0});
  Eigen::MatrixXd probes(3, 2);
  probes << 0.31, 0.72, 0.9, 0.1, 0.55, 0.45;
  const Eigen::VectorXd batch = acq.values(probes);
  for (int p = 0; p < 3; ++p) {
    const Eigen::VectorXd at = probes.row(p).transpose();
    Eigen::VectorXd grad;
    const double v = acq.value(at, &grad);
    EXPECT_NEAR(v, batch(p), 1e-9);
    for (int j = 0; j < 2; ++j) {
      Eigen::VectorXd ap = at, am = at;
      ap(j) += 1e-6;
      am(j) -= 1e-6;
      const double fd = (acq.value(ap, nullptr) - acq.value(am, nullptr)) / 2e-6;
      EXPECT_NEAR(grad(j), fd, 1e-4 * std::max(1.0, std::abs(fd))) << "probe " << p << " dim " << j;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Kinds, AcquisitionGradient,
                         ::testing::Combine(::testing::Values(AcquisitionKind::LogExpectedImprovement,
                                                              AcquisitionKind::UpperConfidenceBound),
                                            ::testing::Bool()));

TEST(AcquisitionFunction, FeasibilityLowersTheValueWhereConstraintsFail) {
  Eigen::MatrixXd x(6, 1);
  x << 0.05, 0.2, 0.35, 0.65, 0.8, 0.95;
  const Eigen::VectorXd y = Eigen::VectorXd::Zero(6);
  Eigen::VectorXd labels(6);
  labels << 1, 1, 1, -1, -1, -1;  // feasible only on the left
  const GaussianProcess objective(x, y, GpHyperparameters::defaults(1));
  const GaussianProcess feasibility(x, labels, GpHyperparameters::defaults(1));
  const AcquisitionFunction plain(&objective, nullptr, 0.0, {});
  const AcquisitionFunction weighted(&objective, &feasibility, 0.0, {});
  Eigen::MatrixXd probes(2, 1);
  probes << 0.275, 0.725;  // symmetric: equal objective value
  const Eigen::VectorXd p = plain.values(probes), w = weighted.values(probes);
  EXPECT_NEAR(p(0), p(1), 1e-9);
  EXPECT_GT(w(0), w(1) + 1.0);
  EXPECT_LE(w(0), p(0));  // log P(feasible) ≤ 0
}

}  // namespace
}  // namespace lorafarm::search
