// QLoRA's frozen base: QuantizedMatrix (engine/quantization.h) behind the
// operations AdaptedLinear needs.
#include "engine/quantized_base.h"

#include "engine/quantization.h"

namespace lorafarm::engine {

std::shared_ptr<const QuantizedMatrix> quantize_for_qlora(const Matrix& weight, const QuantizationConfig& config) {
  validate_quantization(config);
  return std::make_shared<const QuantizedMatrix>(QuantizedMatrix::quantize(weight, config));
}

Eigen::Index quantized_base_rows(const QuantizedMatrix& w) { return w.rows; }
Eigen::Index quantized_base_cols(const QuantizedMatrix& w) { return w.cols; }
Matrix quantized_base_dense(const QuantizedMatrix& w) { return w.dequantize(); }
void quantized_base_product(const QuantizedMatrix& w, const Matrix& x, Matrix& y) { w.multiply_transposed(x, y); }
void quantized_base_input_grad(const QuantizedMatrix& w, const Matrix& dy, Matrix& dx) {
  Matrix part;
  w.multiply(dy, part);
  dx += part;
}
int64_t quantized_base_bytes(const QuantizedMatrix& w) { return w.bytes(); }

}  // namespace lorafarm::engine
