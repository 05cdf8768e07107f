// The robust output warp applied before the GP sees an objective: standardise,
// Yeo-Johnson power transform with λ by maximum likelihood, standardise again.
// It tames heavy tails (perplexities spanning decades, Rosenbrock's 1e5 walls)
// without needing positive values, and is monotone, so the best point stays best.
#pragma once

#include <Eigen/Core>

namespace lorafarm::search {

class OutputWarp {
 public:
  // Fits the warp to the observed values (any sign; at least one value).
  static OutputWarp fit(const Eigen::VectorXd& y);
  // The identity up to standardisation (λ = 1).
  static OutputWarp standardise_only(const Eigen::VectorXd& y);

  double operator()(double y) const;
  Eigen::VectorXd operator()(const Eigen::VectorXd& y) const;
  double lambda() const { return lambda_; }

 private:
  double mean_ = 0.0, scale_ = 1.0;          // first standardisation
  double lambda_ = 1.0;                      // Yeo-Johnson exponent
  double out_mean_ = 0.0, out_scale_ = 1.0;  // second standardisation
};

// Yeo-Johnson (2000): ψ(z) = ((z+1)^λ - 1)/λ for z ≥ 0, -((1-z)^(2-λ) - 1)/(2-λ) for z < 0
// (with the log limits at λ = 0 and λ = 2).
double yeo_johnson(double z, double lambda);

}  // namespace lorafarm::search
