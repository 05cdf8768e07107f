// Standard optimisation test functions with their domains and known optima,
// used by the search benchmarks and tests. Definitions follow Surjanovic &
// Bingham's Virtual Library of Simulation Experiments (sfu.ca/~ssurjano) and,
// for BraninCurrin, Daulton et al. 2020 (qEHVI); see docs/search.md.
#pragma once

#include <Eigen/Core>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "search/search_space.h"

namespace lorafarm::search {

struct TestFunction {
  std::string name;
  Eigen::VectorXd lower, upper;   // the box
  std::function<double(const Eigen::VectorXd&)> f;  // minimised, in original coordinates
  Eigen::VectorXd argmin;         // one global minimiser
  double minimum = 0.0;           // f(argmin)
  int budget = 50;                // evaluations in the issue-5 benchmark

  int dim() const { return static_cast<int>(lower.size()); }
  // Maps a point of the unit cube to the box.
  Eigen::VectorXd from_unit(const Eigen::VectorXd& u) const;
  double at_unit(const Eigen::VectorXd& u) const { return f(from_unit(u)); }
};

TestFunction branin();
TestFunction hartmann3();
TestFunction hartmann6();
TestFunction rosenbrock4();  // on [-5, 10]^4
TestFunction ackley5();      // on [-32.768, 32.768]^5
TestFunction levy4();        // on [-10, 10]^4
// The six single-objective functions of the issue-5 benchmark, in order.
std::vector<TestFunction> benchmark_functions();
// By name ("branin", "hartmann3", ...); throws std::invalid_argument naming the choices.
TestFunction test_function(std::string_view name);

// A mixed search space with a known optimum (docs/search.md, "Mixed
// synthetic space"): a categorical, a log-scaled int, an int, a log-scaled
// float and a float, shaped like a LoRA search (the best learning rate moves
// with the width and the kind), with a second basin in the float.
struct MixedTestFunction {
  std::string name;
  SearchSpace space;
  std::function<double(const Params&)> f;  // minimised
  Params argmin;
  double minimum = 0.0;
  int budget = 60;
};
MixedTestFunction mixed_lora_like();

// BraninCurrin: two objectives on [0,1]^2, both minimised (Daulton et al. 2020).
Eigen::Vector2d branin_currin(const Eigen::Vector2d& x);
// The hypervolume reference point used with BraninCurrin (BoTorch's convention).
Eigen::Vector2d branin_currin_reference();

}  // namespace lorafarm::search
