// The gated MLP activation a = act(gate) ⊙ up for each family's act: SiLU
// (SwiGLU) or the tanh approximation of GELU (Gemma's gelu_pytorch_tanh).
#pragma once

#include "engine/model_config.h"
#include "engine/tensor.h"

namespace lorafarm::engine {

// gelu_tanh(g) = ½ g (1 + tanh(√(2/π) (g + 0.044715 g³))).
void gelu_tanh_gate(const Matrix& gate, const Matrix& up, Matrix& out);

// With t = tanh(u), u = √(2/π)(g + 0.044715 g³):
//   d gelu/dg = ½(1 + t) + ½ g (1 − t²) √(2/π)(1 + 3·0.044715 g²).
void gelu_tanh_gate_backward(const Matrix& gate, const Matrix& up, const Matrix& d_act, Matrix& d_gate, Matrix& d_up);

// Dispatch on the config's activation.
void gated_activation(Activation act, const Matrix& gate, const Matrix& up, Matrix& out);
void gated_activation_backward(Activation act, const Matrix& gate, const Matrix& up, const Matrix& d_act,
                               Matrix& d_gate, Matrix& d_up);

}  // namespace lorafarm::engine
