// Bayesian optimisation on the unit cube (minimisation): a Sobol initial
// design, then a Matérn-5/2 GP on warped outputs, log-EI (or LCB) weighted by a
// feasibility model, maximised with L-BFGS from many starts. Running trials
// enter the model as fantasies (kriging believer or constant liar), so parallel
// suggestions never coincide. Knows nothing of parameter names: GpSampler maps a
// SearchSpace to this cube.
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <span>
#include <vector>

#include "search/acquisition.h"
#include "search/gaussian_process.h"

namespace lorafarm::search {

enum class PointOutcome {
  Completed,   // y is the objective value
  Infeasible,  // ran, but broke a constraint (out of memory, limit exceeded)
  Failed,      // crashed; treated as infeasible by the feasibility model
};

struct CubeObservation {
  Eigen::VectorXd x;  // canonical point of the cube (see CubeSpace::canonicalize)
  double y = 0.0;     // minimised; ignored unless Completed
  PointOutcome outcome = PointOutcome::Completed;
  // Constraint values when known (feasible when all ≤ 0), for Completed and
  // Infeasible points. When every such point has them, each constraint gets
  // its own GP and P(feasible) = Π P(c_k ≤ 0) (Gardner et al. 2014).
  std::vector<double> constraints;
};

// The cube the optimiser searches. Coordinates of inactive conditional
// parameters hold kInactiveCoordinate; discrete coordinates (ints, one-hot
// blocks) are not moved by the gradient optimiser, only by `canonicalize`.
struct CubeSpace {
  int dim = 0;
  std::vector<bool> continuous;  // empty: every coordinate is continuous
  // Snaps a point of [0,1]^dim to the nearest valid encoded point (round ints,
  // argmax one-hot blocks, inactive coordinates to kInactiveCoordinate).
  // Empty: the identity (a plain continuous box).
  std::function<void(Eigen::Ref<Eigen::VectorXd>)> canonicalize;
  // The discrete neighbours of a canonical point: each other choice of each
  // categorical, the adjacent values of each int (canonical points too). The
  // acquisition is climbed over them after the gradient step, so discrete
  // coordinates are only ever scored at valid values. Empty: none.
  std::function<std::vector<Eigen::VectorXd>(const Eigen::VectorXd&)> neighbours;
  // Coordinates sharing one lengthscale (group index per coordinate), e.g. the
  // one-hot block of a categorical: its kernel then depends only on whether two
  // choices are equal. Empty: one lengthscale per coordinate.
  std::vector<int> lengthscale_groups;

  static CubeSpace box(int dim);
};

enum class PendingStrategy {
  KrigingBeliever,   // y(pending) = posterior mean
  ConstantLiarMin,   // y(pending) = best observed value
  ConstantLiarMean,  // y(pending) = mean observed value
};

struct BayesOptions {
  int initial_points = 0;  // Sobol design size; 0 = automatic (see initial_design_size)
  AcquisitionSettings acquisition;
  PendingStrategy pending = PendingStrategy::KrigingBeliever;
  bool warp_outputs = true;            // Yeo-Johnson output warp (else standardise only)
  int raw_samples = 256;               // random candidates scored before local refinement
  int local_starts = 4;                // best candidates refined by L-BFGS
  int local_evaluations = 40;          // per start
  int max_exact_observations = 256;    // past this, a subset of data (see docs/search.md)
  int max_fit_observations = 128;      // hyperparameters are fitted on at most this many
  int hyperparameter_random_starts = 2;
  // Hyperparameters are refitted on every call while there are ≤ 32 points,
  // then when the data has grown by this factor since the last fit (in between
  // the last fit is reused with the new data).
  double refit_growth = 1.1;
  double min_separation = 2e-3;        // Euclidean distance in the cube to any running point
  std::uint64_t seed = 0;
};

// What the last suggest() did, for benchmarks and logs.
struct SuggestDiagnostics {
  int modelled_points = 0;       // observations in the objective GP (after subsetting)
  bool used_feasibility_model = false;
  bool from_initial_design = false;
  double best_acquisition = 0.0;
  std::optional<GpHyperparameters> hyperparameters;
};

class BayesOptimizer {
 public:
  BayesOptimizer(CubeSpace space, BayesOptions options);

  // `count` new canonical points, at least min_separation from each other and
  // from every pending (running) point, and never a repeat of an observed point
  // (within 1e-6). Deterministic
  // given (options.seed, observed, pending, count).
  std::vector<Eigen::VectorXd> suggest(std::span<const CubeObservation> observed,
                                       std::span<const Eigen::VectorXd> pending, int count);

  // The point of `candidates` (another model's proposals, e.g. TPE's draws)
  // with the best acquisition under the model of `observed` with `pending`
  // fantasised, as they are (canonicalised, not refined), skipping those too
  // close to a running or observed point; a random far-enough point when none
  // is left. The initial design is not consulted: the caller decides when.
  Eigen::VectorXd choose(std::span<const CubeObservation> observed, std::span<const Eigen::VectorXd> pending,
                         std::span<const Eigen::VectorXd> candidates);

  int initial_design_size() const;
  const SuggestDiagnostics& diagnostics() const { return diagnostics_; }
  const CubeSpace& space() const { return space_; }

 private:
  struct HyperparameterCache {
    int fitted_at = -1;  // number of points at the last fit
    GpHyperparameters hyperparameters;
  };
  GpHyperparameters hyperparameters_for(HyperparameterCache& cache, const Eigen::MatrixXd& x,
                                        const Eigen::VectorXd& y, const GpFitOptions& fit, int n,
                                        std::mt19937_64& rng) const;
  Eigen::VectorXd design_point(std::uint64_t index) const;
  Eigen::VectorXd canonical(Eigen::VectorXd x) const;

  // The steps of suggest(): bayes_optimizer.cpp defines Batch and Fantasy,
  // bayes_models.h Models (fitted in bayes_model_fit.cpp).
  struct Batch;    // the random stream, running and finished points, accepted points
  struct Models;   // the GPs fitted to the history
  struct Fantasy;  // the GPs with the running points fantasised in
  void take_initial_design(Batch& batch, std::uint64_t history, int count);
  Models fit_models(std::span<const CubeObservation> observed, std::mt19937_64& rng);
  void fit_objective_model(std::span<const CubeObservation> observed, Models& models, std::mt19937_64& rng);
  void fit_constraint_models(std::span<const CubeObservation> observed, Models& models, std::mt19937_64& rng);
  void fit_feasibility_model(std::span<const CubeObservation> observed, Models& models, std::mt19937_64& rng);
  Eigen::VectorXd next_point(const Models& models, Batch& batch);
  Fantasy fantasise(const Models& models, const std::vector<Eigen::VectorXd>& running) const;
  std::vector<Eigen::VectorXd> candidate_points(const Models& models, Batch& batch) const;
  Eigen::VectorXd maximise(const AcquisitionFunction& acquisition, const std::vector<Eigen::VectorXd>& candidates,
                           Batch& batch);
  std::pair<Eigen::VectorXd, double> polish(const AcquisitionFunction& acquisition, Eigen::VectorXd x,
                                            double value) const;
  std::pair<Eigen::VectorXd, double> climb(const AcquisitionFunction& acquisition, Eigen::VectorXd x,
                                           double value) const;

  HyperparameterCache objective_cache_, feasibility_cache_;
  std::vector<HyperparameterCache> constraint_cache_;

  CubeSpace space_;
  BayesOptions options_;
  SuggestDiagnostics diagnostics_;
};

}  // namespace lorafarm::search
