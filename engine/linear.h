// A linear layer y = x Wᵀ + b with W stored (out, in) as in HF checkpoints.
#pragma once

#include "engine/tensor.h"

namespace lorafarm::engine {

struct Linear {
  Matrix weight;  // (out, in)
  Vector bias;    // empty when the layer has none

  Eigen::Index in_features() const { return weight.cols(); }
  Eigen::Index out_features() const { return weight.rows(); }
  bool has_bias() const { return bias.size() > 0; }

  // y = x Wᵀ + b for x (rows, in); y becomes (rows, out).
  void forward(const Matrix& x, Matrix& y) const;
};

}  // namespace lorafarm::engine
