// The GP sampler on mixed spaces: the exchangeable categorical kernel (tied
// lengthscales of a one-hot block), the discrete neighbourhoods and that no
// suggestion is ever an invalid value.
#include <gtest/gtest.h>

#include <Eigen/Eigenvalues>
#include <cmath>
#include <random>
#include <set>

#include "search/gaussian_process.h"
#include "search/gp_sampler.h"
#include "search/random_sampler.h"

namespace lorafarm::search {
namespace {

// method (4 choices), rank (log int, only when method is not full), layers
// (int), lr (log float): the shape of a LoRA search.
SearchSpace lora_like_space() {
  return SearchSpace::from_json(nlohmann::json::parse(R"({
    "method": {"type": "categorical", "values": ["lora", "dora", "qlora", "full"]},
    "rank": {"type": "int", "low": 1, "high": 64, "log": true, "condition": {"param": "method", "not_in": ["full"]}},
    "layers": {"type": "int", "low": 1, "high": 5},
    "lr": {"type": "float", "low": 1e-5, "high": 1e-1, "log": true}})"));
}

// Encoded model points of `n` random configurations.
Eigen::MatrixXd random_model_points(const GpSampler& sampler, const SearchSpace& space, int n, std::uint64_t seed) {
  RandomSampler random(space, seed);
  const auto configs = random.suggest(n, {});
  Eigen::MatrixXd x(n, sampler.model_dimensions());
  for (int i = 0; i < n; ++i) x.row(i) = sampler.to_model(configs[i]).transpose();
  return x;
}

// The first model coordinate of the method's one-hot block: the space orders
// parameters parents first, and each earlier parameter takes one coordinate.
int method_offset(const SearchSpace& space) { return static_cast<int>(*space.index_of("method")); }

// Lengthscales tied within the method's one-hot block.
Matern52 tied_kernel(const SearchSpace& space, int dim, double method_lengthscale) {
  Eigen::VectorXd l = Eigen::VectorXd::Constant(dim, 0.4);
  l.segment(method_offset(space), 4).setConstant(method_lengthscale);
  return Matern52(l, 1.3);
}

TEST(MixedSpaceKernel, TheGramMatrixOfMixedConditionalPointsIsPositiveSemiDefinite) {
  const SearchSpace space = lora_like_space();
  GpSampler sampler(space, 1);
  const Eigen::MatrixXd x = random_model_points(sampler, space, 60, 7);
  for (double ls : {0.05, 0.5, 5.0}) {
    const Eigen::MatrixXd k = tied_kernel(space, sampler.model_dimensions(), ls).gram(x);
    const Eigen::VectorXd eig = Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(k).eigenvalues();
    EXPECT_GE(eig.minCoeff(), -1e-9 * eig.maxCoeff()) << "lengthscale " << ls;
  }
}

TEST(MixedSpaceKernel, TiedLengthscalesMakeTheCategoricalKernelExchangeable) {
  const SearchSpace space = lora_like_space();
  GpSampler sampler(space, 1);
  const Matern52 kernel = tied_kernel(space, sampler.model_dimensions(), 0.7);
  // Configurations that differ only in the method (among the three with a rank):
  // the covariance is the same for every pair of distinct methods.
  std::vector<double> covariances;
  const std::vector<std::string> methods = {"lora", "dora", "qlora"};
  for (const auto& a : methods)
    for (const auto& b : methods) {
      if (a == b) continue;
      Eigen::MatrixXd pa = sampler.to_model({{"method", a}, {"rank", 8}, {"layers", 2}, {"lr", 1e-3}}).transpose();
      Eigen::MatrixXd pb = sampler.to_model({{"method", b}, {"rank", 8}, {"layers", 2}, {"lr", 1e-3}}).transpose();
      covariances.push_back(kernel.cross(pa, pb)(0, 0));
    }
  for (double c : covariances) EXPECT_NEAR(c, covariances.front(), 1e-14);
  // Hand-derived: two one-hot coordinates differ by 1, so r = √2/0.7.
  const double r = std::sqrt(2.0) / 0.7;
  EXPECT_NEAR(covariances.front(), 1.3 * (1 + std::sqrt(5.0) * r + 5.0 / 3.0 * r * r) * std::exp(-std::sqrt(5.0) * r),
              1e-12);
  // Relabelling the choices (a permutation of the one-hot block) leaves the Gram matrix unchanged.
  Eigen::MatrixXd x = random_model_points(sampler, space, 30, 3);
  Eigen::MatrixXd permuted = x;
  const int perm[4] = {2, 0, 3, 1};
  const int m = method_offset(space);
  for (int j = 0; j < 4; ++j) permuted.col(m + perm[j]) = x.col(m + j);
  EXPECT_LE((kernel.gram(x) - kernel.gram(permuted)).cwiseAbs().maxCoeff(), 1e-14);
}

TEST(MixedSpaceKernel, GroupedFitTiesLengthscalesAndItsGradientMatchesFiniteDifferences) {
  const SearchSpace space = lora_like_space();
  GpSampler sampler(space, 1);
  const int d = sampler.model_dimensions();
  const Eigen::MatrixXd x = random_model_points(sampler, space, 25, 11);
  Eigen::VectorXd y(x.rows());
  const int m = method_offset(space);
  for (Eigen::Index i = 0; i < x.rows(); ++i) y(i) = std::sin(3 * x(i, d - 1)) + x(i, m) - 0.5 * x(i, m + 3);
  y = (y.array() - y.mean()).matrix();
  std::vector<int> groups;  // the method block shares group 100, every other coordinate its own
  for (int j = 0; j < d; ++j) groups.push_back(j >= m && j < m + 4 ? 100 : j);
  GpFitOptions fit;
  fit.lengthscale_groups = groups;
  std::mt19937_64 rng(5);
  const GpHyperparameters h = fit_hyperparameters(x, y, fit, rng);
  for (int j = 1; j < 4; ++j) EXPECT_EQ(h.log_lengthscales(m + j), h.log_lengthscales(m));
  // d/dθ_group of the posterior = Σ of its coordinates' partial derivatives.
  Eigen::VectorXd grad;
  log_posterior_of_hyperparameters(x, y, h, &grad, groups);
  const double step = 1e-5;
  GpHyperparameters up = h, down = h;
  up.log_lengthscales.segment(m, 4).array() += step;
  down.log_lengthscales.segment(m, 4).array() -= step;
  const double fd = (log_posterior_of_hyperparameters(x, y, up, nullptr, groups) -
                     log_posterior_of_hyperparameters(x, y, down, nullptr, groups)) / (2 * step);
  EXPECT_NEAR(grad.segment(m, 4).sum(), fd, 1e-4 * std::max(1.0, std::abs(fd)));
}

TEST(MixedSpaceNeighbours, EachIsValidAndOneDiscreteStepAway) {
  const SearchSpace space = lora_like_space();
  GpSampler sampler(space, 1);
  const Params start = {{"method", "dora"}, {"rank", 8}, {"layers", 1}, {"lr", 1e-3}};
  std::set<std::string> seen;
  for (const auto& n : sampler.neighbours(sampler.to_model(start))) {
    Params p = sampler.from_model(n);
    EXPECT_NO_THROW(space.validate(p)) << p.dump();
    EXPECT_NEAR(p["lr"].get<double>(), 1e-3, 1e-15);  // floats are the gradient step's job
    p.erase("lr");
    seen.insert(p.dump());
  }
  // 3 other methods (full drops rank), rank 7, 9, 16, 4, and layers 2 (1 is the bound).
  const std::set<std::string> expected = {
      Params({{"method", "lora"}, {"rank", 8}, {"layers", 1}}).dump(),
      Params({{"method", "qlora"}, {"rank", 8}, {"layers", 1}}).dump(),
      Params({{"method", "full"}, {"layers", 1}}).dump(),
      Params({{"method", "dora"}, {"rank", 7}, {"layers", 1}}).dump(),
      Params({{"method", "dora"}, {"rank", 9}, {"layers", 1}}).dump(),
      Params({{"method", "dora"}, {"rank", 16}, {"layers", 1}}).dump(),
      Params({{"method", "dora"}, {"rank", 4}, {"layers", 1}}).dump(),
      Params({{"method", "dora"}, {"rank", 8}, {"layers", 2}}).dump()};
  EXPECT_EQ(seen, expected);
  // From full, switching to a method with a rank activates it mid-range: a log
  // int 1..64 owns [0.5, 64.5] in log space, whose midpoint √(0.5·64.5) = 5.68 rounds to 6.
  for (const auto& n : sampler.neighbours(sampler.to_model({{"method", "full"}, {"layers", 3}, {"lr", 1e-3}}))) {
    const Params p = sampler.from_model(n);
    if (p["method"] != "full" && p["layers"] == 3) EXPECT_EQ(p["rank"], 6) << p.dump();
  }
}

TEST(MixedSpaceSuggestions, NeverProposeAnInvalidValue) {
  const SearchSpace space = lora_like_space();
  GpSampler sampler(space, 4);
  std::vector<Observation> history;
  for (int i = 0; i < 24; ++i) {
    const auto batch = sampler.suggest(i % 3 == 0 ? 2 : 1, history);
    for (const auto& p : batch) {
      ASSERT_NO_THROW(space.validate(p)) << p.dump();  // ints are JSON integers in bounds, choices valid
      // The point the model saw is canonical: re-encoding changes nothing.
      const Eigen::VectorXd x = sampler.to_model(p);
      Eigen::VectorXd c = x;
      sampler.canonicalize(c);
      EXPECT_EQ((x - c).cwiseAbs().maxCoeff(), 0.0);
      Observation o;
      o.trial_number = static_cast<std::int64_t>(history.size());
      o.params = p;
      o.status = ObservationStatus::Completed;
      const double rank = p.contains("rank") ? std::log2(p["rank"].get<double>()) : 2.0;
      o.objectives = {std::pow(std::log10(p["lr"].get<double>()) + 3, 2) + 0.1 * std::abs(rank - 3) +
                      0.05 * p["layers"].get<double>() + (p["method"] == "full" ? 0.3 : 0.0)};
      history.push_back(o);
    }
  }
  EXPECT_GE(history.size(), 24u);
}

}  // namespace
}  // namespace lorafarm::search
