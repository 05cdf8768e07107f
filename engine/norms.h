// The RMSNorm variants of the newer families: Gemma's (1 + w) scale, and the
// per-head norm Qwen3 and Gemma 3 apply to queries and keys before RoPE.
#pragma once

#include "engine/model_config.h"
#include "engine/tensor.h"

namespace lorafarm::engine {

// What an RMSNorm multiplies by: the weight, or 1 + weight (norm_plus_one,
// as Gemma stores its norms). d/dweight is the same either way.
Vector norm_scale(const ModelConfig& config, const Vector& weight);

// RMSNorm of every head_dim-wide slice of each row of x (heads per row), in
// place: x[r, h·d:(h+1)·d] ← rms_norm(that slice) ⊙ scale. `inv_rms` gets one
// entry per (row, head), row-major, for the backward.
void head_rms_norm(Matrix& x, int heads, const Vector& scale, float eps, Vector* inv_rms = nullptr);

// Backward of head_rms_norm: `grad` holds dL/dy and becomes dL/dx, in place;
// `x` is the input the forward normed. dL/dweight is added to weight_grad
// when given (the scale's gradient: the same for w and 1 + w).
void head_rms_norm_backward(const Matrix& x, int heads, const Vector& scale, const Vector& inv_rms, Matrix& grad,
                            Vector* weight_grad);

}  // namespace lorafarm::engine
