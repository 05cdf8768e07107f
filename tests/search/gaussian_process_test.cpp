// GP posterior against hand-computed cases; kernel, posterior and marginal
// likelihood gradients against central finite differences.
#include "search/gaussian_process.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace lorafarm::search {
namespace {

double matern(double r, double s2) { return s2 * (1 + std::sqrt(5.0) * r + 5.0 / 3.0 * r * r) * std::exp(-std::sqrt(5.0) * r); }

GpHyperparameters hyper(std::vector<double> lengthscales, double s2, double noise) {
  GpHyperparameters h;
  h.log_lengthscales = Eigen::Map<Eigen::VectorXd>(lengthscales.data(), static_cast<Eigen::Index>(lengthscales.size())).array().log();
  h.log_signal_variance = std::log(s2);
  h.log_noise_variance = std::log(noise);
  return h;
}

Eigen::MatrixXd random_points(int n, int d, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  Eigen::MatrixXd x(n, d);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < d; ++j) x(i, j) = u(rng);
  return x;
}

TEST(Matern52, MatchesTheClosedFormWithArdScaling) {
  const Matern52 k(Eigen::Vector2d(0.5, 2.0), 1.5);
  Eigen::MatrixXd a(1, 2), b(1, 2);
  a << 0.1, 0.2;
  b << 0.4, 0.9;
  const double r = std::sqrt(std::pow(0.3 / 0.5, 2) + std::pow(0.7 / 2.0, 2));
  EXPECT_NEAR(k.cross(a, b)(0, 0), matern(r, 1.5), 1e-12);
  EXPECT_NEAR(k.gram(a)(0, 0), 1.5, 1e-12);
}

TEST(Matern52, InputGradientMatchesFiniteDifferences) {
  const Matern52 k(Eigen::Vector3d(0.3, 0.7, 1.1), 0.8);
  const Eigen::MatrixXd b = random_points(5, 3, 1);
  const Eigen::VectorXd x = Eigen::Vector3d(0.2, 0.5, 0.9);
  const Eigen::MatrixXd g = k.cross_grad_x(x, b);
  for (int j = 0; j < 3; ++j) {
    Eigen::VectorXd xp = x, xm = x;
    xp(j) += 1e-6;
    xm(j) -= 1e-6;
    const Eigen::VectorXd fd = (k.cross(b, xp.transpose()) - k.cross(b, xm.transpose())) / 2e-6;
    for (int i = 0; i < 5; ++i) EXPECT_NEAR(g(i, j), fd(i), 1e-6);
  }
}

// One observation: mean = k(x,x0) y0 / (s2 + σn²), var = s2 - k(x,x0)² / (s2 + σn²).
TEST(GaussianProcess, PosteriorWithOneObservationMatchesHandComputation) {
  Eigen::MatrixXd x(1, 1);
  x << 0.3;
  const GaussianProcess gp(x, Eigen::VectorXd::Constant(1, 2.0), hyper({0.5}, 1.2, 0.01));
  Eigen::MatrixXd xs(2, 1);
  xs << 0.3, 0.8;
  Eigen::VectorXd mean, var;
  gp.predict(xs, mean, var);
  const double k1 = matern(1.0, 1.2);  // |0.8 - 0.3| / 0.5
  EXPECT_NEAR(mean(0), 1.2 * 2.0 / 1.21, 1e-9);
  EXPECT_NEAR(var(0), 1.2 - 1.2 * 1.2 / 1.21, 1e-9);
  EXPECT_NEAR(mean(1), k1 * 2.0 / 1.21, 1e-9);
  EXPECT_NEAR(var(1), 1.2 - k1 * k1 / 1.21, 1e-9);
}

// Two observations: K⁻¹ of a 2×2 matrix by hand.
TEST(GaussianProcess, PosteriorWithTwoObservationsMatchesHandComputation) {
  Eigen::MatrixXd x(2, 1);
  x << 0.0, 0.5;
  const Eigen::Vector2d y(1.0, -1.0);
  const double s2 = 1.0, noise = 1e-3, l = 0.4;
  const GaussianProcess gp(x, y, hyper({l}, s2, noise));
  const double k01 = matern(0.5 / l, s2), a = s2 + noise, det = a * a - k01 * k01;
  const double alpha0 = (a * y(0) - k01 * y(1)) / det, alpha1 = (a * y(1) - k01 * y(0)) / det;
  Eigen::MatrixXd xs(1, 1);
  xs << 0.2;
  const double ka = matern(0.2 / l, s2), kb = matern(0.3 / l, s2);
  Eigen::VectorXd mean, var;
  gp.predict(xs, mean, var);
  EXPECT_NEAR(mean(0), ka * alpha0 + kb * alpha1, 1e-9);
  const double quad = (a * ka * ka - 2 * k01 * ka * kb + a * kb * kb) / det;
  EXPECT_NEAR(var(0), s2 - quad, 1e-9);
}

TEST(GaussianProcess, PredictionGradientsMatchFiniteDifferences) {
  const Eigen::MatrixXd x = random_points(12, 3, 2);
  Eigen::VectorXd y = (x.col(0).array() * 3).sin() + x.col(1).array().square();
  const GaussianProcess gp(x, y, hyper({0.3, 0.5, 0.9}, 1.3, 1e-4));
  const Eigen::Vector3d p(0.41, 0.37, 0.66);
  double m, v;
  Eigen::VectorXd dm, dv;
  gp.predict_with_gradient(p, m, v, dm, dv);
  Eigen::VectorXd mb, vb;
  gp.predict(p.transpose(), mb, vb);
  EXPECT_NEAR(m, mb(0), 1e-10);
  EXPECT_NEAR(v, vb(0), 1e-10);
  for (int j = 0; j < 3; ++j) {
    Eigen::MatrixXd pp = p.transpose(), pm = p.transpose();
    pp(0, j) += 1e-6;
    pm(0, j) -= 1e-6;
    Eigen::VectorXd m1, v1, m2, v2;
    gp.predict(pp, m1, v1);
    gp.predict(pm, m2, v2);
    EXPECT_NEAR(dm(j), (m1(0) - m2(0)) / 2e-6, 1e-5);
    EXPECT_NEAR(dv(j), (v1(0) - v2(0)) / 2e-6, 1e-5);
  }
}

TEST(GaussianProcess, MarginalLikelihoodGradientMatchesFiniteDifferences) {
  const Eigen::MatrixXd x = random_points(15, 3, 3);
  const Eigen::VectorXd y = (x.col(0).array() * 4).cos() - x.col(2).array();
  const GpHyperparameters h = hyper({0.4, 0.8, 0.25}, 0.9, 2e-3);
  Eigen::VectorXd grad;
  log_posterior_of_hyperparameters(x, y, h, &grad);
  const Eigen::VectorXd theta = h.packed();
  for (Eigen::Index i = 0; i < theta.size(); ++i) {
    Eigen::VectorXd tp = theta, tm = theta;
    tp(i) += 1e-5;
    tm(i) -= 1e-5;
    const double fd = (log_posterior_of_hyperparameters(x, y, GpHyperparameters::unpack(tp), nullptr) -
                       log_posterior_of_hyperparameters(x, y, GpHyperparameters::unpack(tm), nullptr)) / 2e-5;
    EXPECT_NEAR(grad(i), fd, 1e-5 * std::max(1.0, std::abs(fd))) << "parameter " << i;
  }
}

// Only x0 matters: the fitted lengthscale of the irrelevant dimension is much longer.
TEST(GaussianProcess, FittedLengthscalesFindTheRelevantDimension) {
  const Eigen::MatrixXd x = random_points(30, 2, 4);
  Eigen::VectorXd y = (x.col(0).array() * 6).sin();
  y = (y.array() - y.mean()) / std::sqrt((y.array() - y.mean()).square().mean());
  std::mt19937_64 rng(5);
  const GpHyperparameters h = fit_hyperparameters(x, y, GpFitOptions{}, rng);
  EXPECT_GT(h.log_lengthscales(1), h.log_lengthscales(0) + 1.0);
  // The fit improves on the defaults.
  EXPECT_GT(log_posterior_of_hyperparameters(x, y, h, nullptr),
            log_posterior_of_hyperparameters(x, y, GpHyperparameters::defaults(2), nullptr));
}

TEST(GaussianProcess, DuplicatePointsFactoriseWithJitter) {
  Eigen::MatrixXd x(3, 1);
  x << 0.5, 0.5, 0.5;
  const GaussianProcess gp(x, Eigen::Vector3d(1.0, 1.0, 1.0), hyper({0.3}, 1.0, 1e-12));
  Eigen::VectorXd mean, var;
  gp.predict(x.topRows(1), mean, var);
  EXPECT_NEAR(mean(0), 1.0, 1e-3);
}

}  // namespace
}  // namespace lorafarm::search
