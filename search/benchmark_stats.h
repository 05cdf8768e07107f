// Statistics the search benchmarks report: quantiles of per-seed results and
// the Vargha–Delaney A12 effect size.
#pragma once

#include <vector>

namespace lorafarm::search {

// Linear interpolation between order statistics (numpy's default); q in [0,1].
// Throws std::invalid_argument on an empty sample.
double quantile(std::vector<double> values, double q);

// Vargha & Delaney (2000) A12 for minimisation: P(a < b) + ½·P(a = b) over
// all pairs (one value of `a`, one of `b`). 0.5 is a draw; above 0.5 `a` tends
// to be lower. Throws std::invalid_argument if either sample is empty.
double vargha_delaney_a12(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace lorafarm::search
