// Dense linear layer.
#include "engine/linear.h"

namespace lorafarm::engine {

void Linear::widen() {
  if (!is_half()) return;
  weight = half.to_float();
  half = HalfMatrix();
}

void Linear::forward(const Matrix& x, Matrix& y) const {
  weight_matmul(x, false, weight_ref(), true, y);
  if (has_bias()) y.rowwise() += bias.transpose();
}

}  // namespace lorafarm::engine
