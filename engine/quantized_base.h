// The bridge between a training layer and a quantized frozen weight (QLoRA):
// the few operations AdaptedLinear needs from a QuantizedMatrix.
#pragma once

#include <cstdint>
#include <memory>

#include "engine/model_config.h"
#include "engine/tensor.h"

namespace lorafarm::engine {

struct QuantizedMatrix;

Eigen::Index quantized_base_rows(const QuantizedMatrix& w);
Eigen::Index quantized_base_cols(const QuantizedMatrix& w);
// Quantizes a dense (out, in) weight in the configured format.
std::shared_ptr<const QuantizedMatrix> quantize_for_qlora(const Matrix& weight, const QuantizationConfig& config);
// The float weight (out, in), dequantized.
Matrix quantized_base_dense(const QuantizedMatrix& w);
// y = x Wᵀ without materialising W when the format allows it.
void quantized_base_product(const QuantizedMatrix& w, const Matrix& x, Matrix& y);
// dx += dy W, dequantizing a tile at a time.
void quantized_base_input_grad(const QuantizedMatrix& w, const Matrix& dy, Matrix& dx);
int64_t quantized_base_bytes(const QuantizedMatrix& w);

}  // namespace lorafarm::engine
