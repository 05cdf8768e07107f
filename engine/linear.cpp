// Dense linear layer.
#include "engine/linear.h"

namespace lorafarm::engine {

void Linear::forward(const Matrix& x, Matrix& y) const {
  y.noalias() = x * weight.transpose();
  if (has_bias()) y.rowwise() += bias.transpose();
}

}  // namespace lorafarm::engine
