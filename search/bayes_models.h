// Internal to the Bayesian optimiser: the models one suggest() call fits to
// the history (fitted in bayes_model_fit.cpp, used in bayes_optimizer.cpp).
#pragma once

#include <optional>
#include <vector>

#include "search/bayes_optimizer.h"

namespace lorafarm::search {

// The models one suggest() call fits to the history, before any fantasy.
struct BayesOptimizer::Models {
  std::vector<Eigen::VectorXd> done_x;  // completed points with a finite objective
  std::vector<double> done_y;
  bool any_infeasible = false;          // some point did not complete
  std::optional<GaussianProcess> objective;
  Eigen::VectorXd warped;  // the objective model's targets
  double best = 0.0;       // the best warped value
  std::vector<GaussianProcess> constraints;
  std::size_t n_constraints = 0;
  std::optional<GaussianProcess> feasibility;
  std::vector<int> best_order;  // indices into done_x of the (at most 5) best points
};

}  // namespace lorafarm::search
