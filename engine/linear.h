// A linear layer y = x Wᵀ + b with W stored (out, in) as in HF checkpoints:
// float32, or a frozen weight kept in its checkpoint's bf16/fp16.
#pragma once

#include "engine/gemm.h"
#include "engine/half_matrix.h"
#include "engine/tensor.h"

namespace lorafarm::engine {

struct Linear {
  Matrix weight;    // (out, in); empty when the weight is kept 16-bit
  HalfMatrix half;  // the frozen 16-bit weight (out, in), or empty
  Vector bias;      // empty when the layer has none

  bool is_half() const { return !half.empty(); }
  Eigen::Index in_features() const { return is_half() ? half.cols : weight.cols(); }
  Eigen::Index out_features() const { return is_half() ? half.rows : weight.rows(); }
  bool has_bias() const { return bias.size() > 0; }
  // The weight as a product operand, whichever form it has.
  WeightRef weight_ref() const { return is_half() ? WeightRef(half) : WeightRef(weight); }
  // The weight widened to float32 (a copy).
  Matrix dense_weight() const { return is_half() ? half.to_float() : weight; }
  // Makes the weight float32 (for training it, or writing it back).
  void widen();

  // y = x Wᵀ + b for x (rows, in); y becomes (rows, out).
  void forward(const Matrix& x, Matrix& y) const;
};

}  // namespace lorafarm::engine
