// Multi-objective helpers (all objectives minimised): Pareto dominance,
// non-dominated sorting, exact hypervolume in 2 and 3 objectives, and ParEGO's
// augmented Chebyshev scalarisation (Knowles 2006).
#pragma once

#include <Eigen/Core>
#include <random>
#include <vector>

namespace lorafarm::search {

// a dominates b: no worse in every objective and better in at least one.
bool dominates(const Eigen::VectorXd& a, const Eigen::VectorXd& b);

// Fronts of the rows of `points`: fronts[0] is the non-dominated set (row
// indices, ascending), fronts[1] the set non-dominated once fronts[0] is removed, ...
std::vector<std::vector<int>> non_dominated_sort(const Eigen::MatrixXd& points);
// Indices of the non-dominated rows (fronts[0]).
std::vector<int> pareto_front(const Eigen::MatrixXd& points);

// Volume dominated by the rows of `points` and bounded by `reference` (points
// not strictly better than the reference in every objective add nothing).
// Exact for 2 (sweep) and 3 (slices along the third axis) objectives; throws
// std::invalid_argument otherwise.
double hypervolume(const Eigen::MatrixXd& points, const Eigen::VectorXd& reference);

// ParEGO: s(f) = max_i w_i f̂_i + ρ Σ_i w_i f̂_i, with f̂ the objectives scaled to
// [0,1] by the observed minimum and maximum (rows of `objectives`).
Eigen::VectorXd parego_scalarise(const Eigen::MatrixXd& objectives, const Eigen::VectorXd& weights, double rho = 0.05);
// A weight vector uniform on the simplex (normalised exponentials).
Eigen::VectorXd random_simplex_weights(int objectives, std::mt19937_64& rng);

}  // namespace lorafarm::search
