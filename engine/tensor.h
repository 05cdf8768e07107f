// The engine's numeric types: row-major float32 Eigen matrices. Activations
// are (rows = tokens, cols = features); weights are (out, in) as in
// Hugging Face checkpoints, so a linear layer computes y = x Wᵀ.
#pragma once

#include <Eigen/Core>

namespace lorafarm::engine {

using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Vector = Eigen::VectorXf;

// Sets the threads used by GEMMs and the per-head loops (OpenMP); 0 = all cores.
void set_num_threads(int threads);
int num_threads();

}  // namespace lorafarm::engine
