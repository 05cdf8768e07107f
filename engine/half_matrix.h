// A frozen weight kept in its checkpoint's 16-bit dtype (bf16 or fp16),
// widened to float32 a panel at a time where a product packs it, instead of
// doubling its memory at load.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/tensor.h"

namespace lorafarm::engine {

struct TensorView;

enum class HalfType : uint8_t { kBF16, kF16 };

// (rows, cols) row-major 16-bit values.
struct HalfMatrix {
  HalfType type = HalfType::kBF16;
  Eigen::Index rows = 0, cols = 0;
  std::vector<uint16_t> bits;

  bool empty() const { return bits.empty(); }
  int64_t bytes() const { return static_cast<int64_t>(bits.size()) * 2; }
  // The exact float32 values (both 16-bit formats widen exactly).
  Matrix to_float() const;
  void row_to_float(Eigen::Index row, float* out) const;
  // A BF16 or F16 tensor of rows·cols values, copied.
  static HalfMatrix from_tensor(const TensorView& view, Eigen::Index rows, Eigen::Index cols);
  // Rows [first, first + count) of `whole`.
  static HalfMatrix from_rows(const HalfMatrix& whole, Eigen::Index first, Eigen::Index count);
};

float half_to_float(uint16_t value, HalfType type);
// out[i] = the float value of src[i], for n values (vectorised where the CPU allows).
void widen_halves(const uint16_t* src, int64_t n, HalfType type, float* out);

}  // namespace lorafarm::engine
