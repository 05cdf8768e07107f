// Per-head RMSNorm as the row-wise RMSNorm of a (rows · heads, head_dim) view.
#include "engine/norms.h"

#include "engine/ops.h"
#include "engine/ops_backward.h"

namespace lorafarm::engine {
namespace {

// A row-major (rows, heads·d) matrix read as (rows·heads, d): the same bytes.
Matrix per_head_rows(const Matrix& x, int heads) {
  return Eigen::Map<const Matrix>(x.data(), x.rows() * heads, x.cols() / heads);
}

void store_per_head(const Matrix& rows, Matrix& x) {
  x = Eigen::Map<const Matrix>(rows.data(), x.rows(), x.cols());
}

}  // namespace

Vector norm_scale(const ModelConfig& config, const Vector& weight) {
  if (!config.norm_plus_one) return weight;
  return weight.array() + 1.0f;
}

void head_rms_norm(Matrix& x, int heads, const Vector& scale, float eps, Vector* inv_rms) {
  Matrix normed;
  rms_norm(per_head_rows(x, heads), scale, eps, normed, inv_rms);
  store_per_head(normed, x);
}

void head_rms_norm_backward(const Matrix& x, int heads, const Vector& scale, const Vector& inv_rms, Matrix& grad,
                            Vector* weight_grad) {
  Matrix dx;
  rms_norm_backward(per_head_rows(x, heads), scale, inv_rms, per_head_rows(grad, heads), dx, weight_grad);
  store_per_head(dx, grad);
}

}  // namespace lorafarm::engine
