// The benchmark functions hit their published optima.
#include "search/test_functions.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <random>

namespace lorafarm::search {
namespace {

TEST(TestFunctions, KnownOptimaMatchPublishedValues) {
  EXPECT_NEAR(branin().minimum, 0.397887, 1e-6);
  EXPECT_NEAR(hartmann3().minimum, -3.86278, 1e-5);
  EXPECT_NEAR(hartmann6().minimum, -3.32237, 1e-5);
  EXPECT_NEAR(rosenbrock4().minimum, 0.0, 1e-12);
  EXPECT_NEAR(ackley5().minimum, 0.0, 1e-12);
  EXPECT_NEAR(levy4().minimum, 0.0, 1e-12);
  // Branin's other two minimisers.
  const auto b = branin();
  EXPECT_NEAR(b.f(Eigen::Vector2d(-std::numbers::pi, 12.275)), b.minimum, 1e-9);
  EXPECT_NEAR(b.f(Eigen::Vector2d(9.42478, 2.475)), b.minimum, 1e-6);
}

TEST(TestFunctions, NoRandomPointBeatsTheMinimum) {
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (const auto& fn : benchmark_functions()) {
    for (int i = 0; i < 2000; ++i) {
      Eigen::VectorXd x(fn.dim());
      for (auto& v : x) v = u(rng);
      EXPECT_GE(fn.at_unit(x), fn.minimum) << fn.name;
    }
  }
  EXPECT_THROW(test_function("nope"), std::invalid_argument);
}

TEST(TestFunctions, BraninCurrinMatchesItsDefinition) {
  // Currin at x1 = 1: (1 - e^{-1/2}) (2300+1900+2092+60)/(100+500+4+20) at x0 = 1.
  const Eigen::Vector2d f = branin_currin(Eigen::Vector2d(1.0, 1.0));
  EXPECT_NEAR(f(1), (1 - std::exp(-0.5)) * 6352.0 / 624.0, 1e-12);
  EXPECT_NEAR(f(0), branin().f(Eigen::Vector2d(10.0, 15.0)), 1e-12);
}

}  // namespace
}  // namespace lorafarm::search
