// GELU-tanh gating and the activation dispatch of the MLP.
#include "engine/activation.h"

#include <cmath>
#include <numbers>

#include "engine/ops.h"
#include "engine/ops_backward.h"

namespace lorafarm::engine {
namespace {

constexpr float kCubic = 0.044715f;
const float kSqrt2OverPi = static_cast<float>(std::sqrt(2.0 / std::numbers::pi));

}  // namespace

void gelu_tanh_gate(const Matrix& gate, const Matrix& up, Matrix& out) {
  out.resize(gate.rows(), gate.cols());
#pragma omp parallel for schedule(static)
  for (Eigen::Index r = 0; r < gate.rows(); ++r) {
    const auto g = gate.row(r).array();
    const auto t = (kSqrt2OverPi * (g + kCubic * g * g * g)).tanh();
    out.row(r).array() = 0.5f * g * (1.0f + t) * up.row(r).array();
  }
}

void gelu_tanh_gate_backward(const Matrix& gate, const Matrix& up, const Matrix& d_act, Matrix& d_gate, Matrix& d_up) {
  d_up.resize(gate.rows(), gate.cols());
  d_gate.resize(gate.rows(), gate.cols());
#pragma omp parallel
  {
    Eigen::Array<float, 1, Eigen::Dynamic> t(gate.cols());
#pragma omp for schedule(static)
    for (Eigen::Index r = 0; r < gate.rows(); ++r) {
      const auto g = gate.row(r).array();
      const auto da = d_act.row(r).array();
      t = (kSqrt2OverPi * (g + kCubic * g * g * g)).tanh();
      d_up.row(r).array() = da * 0.5f * g * (1.0f + t);
      const auto slope = 0.5f * (1.0f + t) + 0.5f * g * (1.0f - t * t) * kSqrt2OverPi * (1.0f + 3.0f * kCubic * g * g);
      d_gate.row(r).array() = da * up.row(r).array() * slope;
    }
  }
}

void gated_activation(Activation act, const Matrix& gate, const Matrix& up, Matrix& out) {
  if (act == Activation::kGeluTanh) return gelu_tanh_gate(gate, up, out);
  swiglu(gate, up, out);
}

void gated_activation_backward(Activation act, const Matrix& gate, const Matrix& up, const Matrix& d_act,
                               Matrix& d_gate, Matrix& d_up) {
  if (act == Activation::kGeluTanh) return gelu_tanh_gate_backward(gate, up, d_act, d_gate, d_up);
  swiglu_backward(gate, up, d_act, d_gate, d_up);
}

}  // namespace lorafarm::engine
