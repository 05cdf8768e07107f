// Dense linear layer.
#include "engine/linear.h"

#include "engine/gemm.h"

namespace lorafarm::engine {

void Linear::forward(const Matrix& x, Matrix& y) const {
  matmul(x, false, weight, true, y);
  if (has_bias()) y.rowwise() += bias.transpose();
}

}  // namespace lorafarm::engine
