// Acquisition functions on the GP posterior (minimisation): log Expected
// Improvement computed without underflow, and the lower confidence bound,
// both optionally weighted by the probability of feasibility.
#pragma once

#include <Eigen/Core>
#include <vector>

#include "search/gaussian_process.h"

namespace lorafarm::search {

// Scaled complementary error function erfcx(x) = exp(x²) erfc(x), accurate for all x ≥ -26.
double erfcx(double x);
// log h(z) with h(z) = φ(z) + zΦ(z), the expected improvement of a unit normal
// past z; stable for any z (Ament et al. 2023, "Unexpected improvements to
// expected improvement", eq. 9).
double log_h(double z);
// d log h / dz = Φ(z) / h(z).
double dlog_h(double z);
// log Φ(z) and its derivative φ(z)/Φ(z), stable for very negative z.
double log_ndtr(double z);
double dlog_ndtr(double z);

// log EI(μ, σ; best) = log σ + log h((best - μ)/σ) for minimisation.
double log_expected_improvement(double mean, double sd, double best);

enum class AcquisitionKind { LogExpectedImprovement, UpperConfidenceBound };

struct AcquisitionSettings {
  AcquisitionKind kind = AcquisitionKind::LogExpectedImprovement;
  double ucb_beta = 2.0;  // bound = μ - β σ (minimisation)
};

// The function the suggestion maximises:
//   log EI(x) + log P(feasible | x), or  -(μ(x) - β σ(x)) + log P(feasible | x).
// Either model may be absent: without an objective model (no feasible point yet)
// it maximises log P(feasible); without a feasibility model P = 1.
class AcquisitionFunction {
 public:
  // `constraints`: GPs of constraint values c_k (feasible when c_k ≤ 0), each
  // adding log P(c_k ≤ 0) = log Φ(-μ_k/σ_k).
  AcquisitionFunction(const GaussianProcess* objective, const GaussianProcess* feasibility,
                      double best, AcquisitionSettings settings,
                      std::vector<const GaussianProcess*> constraints = {});

  Eigen::VectorXd values(const Eigen::MatrixXd& xs) const;
  double value(const Eigen::VectorXd& x, Eigen::VectorXd* grad) const;

 private:
  double objective_term(double mean, double variance, double* dmean, double* dvariance) const;
  const GaussianProcess* objective_;
  const GaussianProcess* feasibility_;
  std::vector<const GaussianProcess*> constraints_;
  double best_;
  AcquisitionSettings settings_;
};

}  // namespace lorafarm::search
