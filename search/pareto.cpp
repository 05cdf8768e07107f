// Pareto fronts, hypervolume and ParEGO scalarisation.
#include "search/pareto.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>

namespace lorafarm::search {

bool dominates(const Eigen::VectorXd& a, const Eigen::VectorXd& b) {
  return (a.array() <= b.array()).all() && (a.array() < b.array()).any();
}

// Deb et al.'s fast non-dominated sort, O(m n²).
std::vector<std::vector<int>> non_dominated_sort(const Eigen::MatrixXd& points) {
  const int n = static_cast<int>(points.rows());
  std::vector<std::vector<int>> dominated_by_me(n);
  std::vector<int> domination_count(n, 0);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      if (i == j) continue;
      if (dominates(points.row(i).transpose(), points.row(j).transpose())) dominated_by_me[i].push_back(j);
      else if (dominates(points.row(j).transpose(), points.row(i).transpose())) ++domination_count[i];
    }
  std::vector<std::vector<int>> fronts;
  std::vector<int> current;
  for (int i = 0; i < n; ++i)
    if (domination_count[i] == 0) current.push_back(i);
  while (!current.empty()) {
    fronts.push_back(current);
    std::vector<int> next;
    for (int i : current)
      for (int j : dominated_by_me[i])
        if (--domination_count[j] == 0) next.push_back(j);
    std::sort(next.begin(), next.end());
    current = std::move(next);
  }
  return fronts;
}

std::vector<int> pareto_front(const Eigen::MatrixXd& points) {
  auto fronts = non_dominated_sort(points);
  return fronts.empty() ? std::vector<int>{} : fronts.front();
}

namespace {

// 2-D: sort by the first objective; each point adds the rectangle between it,
// the previous best second objective and the reference.
double hypervolume_2d(std::vector<Eigen::Vector2d> pts, const Eigen::Vector2d& ref) {
  std::sort(pts.begin(), pts.end(), [](const auto& a, const auto& b) { return a(0) < b(0) || (a(0) == b(0) && a(1) < b(1)); });
  double volume = 0.0, last_y = ref(1);
  for (const auto& p : pts) {
    if (p(1) >= last_y) continue;  // dominated by an earlier point
    volume += (ref(0) - p(0)) * (last_y - p(1));
    last_y = p(1);
  }
  return volume;
}

}  // namespace

double hypervolume(const Eigen::MatrixXd& points, const Eigen::VectorXd& reference) {
  const int m = static_cast<int>(reference.size());
  if (points.rows() > 0 && points.cols() != m)
    throw std::invalid_argument("hypervolume: points and reference have different numbers of objectives");
  std::vector<Eigen::VectorXd> inside;
  for (Eigen::Index i = 0; i < points.rows(); ++i)
    if ((points.row(i).transpose().array() < reference.array()).all()) inside.push_back(points.row(i).transpose());
  if (m == 2) {
    std::vector<Eigen::Vector2d> pts;
    for (const auto& p : inside) pts.emplace_back(p(0), p(1));
    return hypervolume_2d(std::move(pts), reference.head<2>());
  }
  if (m == 3) {
    // Slice along the third objective: between consecutive z levels the
    // dominated cross-section is the 2-D hypervolume of the points below.
    std::sort(inside.begin(), inside.end(), [](const auto& a, const auto& b) { return a(2) < b(2); });
    double volume = 0.0;
    std::vector<Eigen::Vector2d> below;
    for (std::size_t i = 0; i < inside.size(); ++i) {
      below.emplace_back(inside[i](0), inside[i](1));
      const double next_z = i + 1 < inside.size() ? inside[i + 1](2) : reference(2);
      volume += hypervolume_2d(below, reference.head<2>()) * (next_z - inside[i](2));
    }
    return volume;
  }
  throw std::invalid_argument("hypervolume: only 2 or 3 objectives are supported, got " + std::to_string(m));
}

Eigen::VectorXd parego_scalarise(const Eigen::MatrixXd& objectives, const Eigen::VectorXd& weights, double rho) {
  if (objectives.cols() != weights.size())
    throw std::invalid_argument("parego_scalarise: one weight per objective is required");
  const Eigen::RowVectorXd lo = objectives.colwise().minCoeff();
  const Eigen::RowVectorXd range = (objectives.colwise().maxCoeff() - lo).cwiseMax(1e-12);
  const Eigen::MatrixXd scaled = (objectives.rowwise() - lo).array().rowwise() / range.array();
  const Eigen::MatrixXd weighted = scaled.array().rowwise() * weights.transpose().array();
  return weighted.rowwise().maxCoeff() + rho * weighted.rowwise().sum();
}

Eigen::VectorXd random_simplex_weights(int objectives, std::mt19937_64& rng) {
  std::exponential_distribution<double> e(1.0);
  Eigen::VectorXd w(objectives);
  for (int i = 0; i < objectives; ++i) w(i) = e(rng);
  return w / w.sum();
}

}  // namespace lorafarm::search
