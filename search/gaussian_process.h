// Exact Gaussian-process regression with a Matérn-5/2 ARD kernel, zero prior
// mean on standardised targets, Cholesky with escalating jitter, and
// hyperparameters by maximum a-posteriori marginal likelihood (NLopt, analytic
// gradients, several starts).
#pragma once

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <cmath>
#include <optional>
#include <random>
#include <vector>

#include "search/matern_kernel.h"

namespace lorafarm::search {

// All in log space: θ = (log ℓ_1 … log ℓ_d, log s2, log σn²).
struct GpHyperparameters {
  Eigen::VectorXd log_lengthscales;
  double log_signal_variance = 0.0;
  double log_noise_variance = std::log(1e-4);

  static GpHyperparameters defaults(int dim);
  Eigen::VectorXd packed() const;
  static GpHyperparameters unpack(const Eigen::VectorXd& theta);
};

struct GpFitOptions {
  int random_starts = 2;         // besides the warm start (or the defaults)
  int max_evaluations = 80;      // per start
  double min_noise_variance = 1e-6;
  double max_noise_variance = 0.5;
  double min_lengthscale = 0.01;  // in the unit cube
  std::optional<GpHyperparameters> warm_start;
  // Coordinates that share one lengthscale (a group index per coordinate, e.g.
  // a categorical's one-hot block); empty: one lengthscale per coordinate.
  std::vector<int> lengthscale_groups;
};

// Log marginal likelihood plus the log-density of the hyperparameter prior
// (weakly informative log-normal priors; see docs/search.md). Fills `grad`
// (∂/∂θ, same layout as packed()) when given. Returns -inf when the kernel
// matrix cannot be factorised. With `groups` (see GpFitOptions), the
// lengthscales of a group are taken to be tied: the prior counts each group
// once (on its first coordinate) and its median grows with the number of groups.
double log_posterior_of_hyperparameters(const Eigen::MatrixXd& x, const Eigen::VectorXd& y,
                                        const GpHyperparameters& h, Eigen::VectorXd* grad,
                                        const std::vector<int>& groups = {});

// MAP hyperparameters for data (x rows, y standardised).
GpHyperparameters fit_hyperparameters(const Eigen::MatrixXd& x, const Eigen::VectorXd& y,
                                      const GpFitOptions& options, std::mt19937_64& rng);

class GaussianProcess {
 public:
  GaussianProcess(Eigen::MatrixXd x, Eigen::VectorXd y, const GpHyperparameters& h);

  int size() const { return static_cast<int>(x_.rows()); }
  int dim() const { return static_cast<int>(x_.cols()); }
  const Eigen::MatrixXd& inputs() const { return x_; }
  const Eigen::VectorXd& targets() const { return y_; }
  const GpHyperparameters& hyperparameters() const { return hyper_; }
  double noise_variance() const { return std::exp(hyper_.log_noise_variance); }

  // Posterior mean and variance of the latent f (no observation noise) at the rows of xs.
  void predict(const Eigen::MatrixXd& xs, Eigen::VectorXd& mean, Eigen::VectorXd& variance) const;
  // The same at one point, with ∂mean/∂x and ∂variance/∂x.
  void predict_with_gradient(const Eigen::VectorXd& x, double& mean, double& variance,
                             Eigen::VectorXd& dmean, Eigen::VectorXd& dvariance) const;

  // A GP with the same hyperparameters and extra (fantasised) observations.
  GaussianProcess with_observations(const Eigen::MatrixXd& xs, const Eigen::VectorXd& ys) const;

 private:
  Eigen::MatrixXd x_;
  Eigen::VectorXd y_;
  GpHyperparameters hyper_;
  Matern52 kernel_;
  Eigen::LLT<Eigen::MatrixXd> chol_;
  Eigen::VectorXd alpha_;  // K⁻¹ y
};

// Factorises K + σn² I, adding jitter (1e-10 … 1e-2 of the mean diagonal) until
// it is positive definite. Returns false when even the largest jitter fails.
bool factorise_with_jitter(Eigen::MatrixXd k, double noise_variance, Eigen::LLT<Eigen::MatrixXd>& chol);

}  // namespace lorafarm::search
