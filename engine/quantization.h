// Group-wise quantization of linear weights for QLoRA: the frozen base
// weight W (out, in) is held packed (4 or 8 bits per value plus per-group
// constants) and dequantized a tile at a time inside the products the forward
// and backward passes need. Formats and formulas: docs/quantization.md.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/model_config.h"
#include "engine/tensor.h"

namespace lorafarm::engine {

// Throws InvalidInput naming the value unless: bits ∈ {4, 8}, group size ∈
// {32, 64, 128}, and nf4 only with 4 bits.
void validate_quantization(const QuantizationConfig& config);

// Whether a linear with `in_features` inputs can be quantized: its input
// dimension must be a multiple of the group size (mlx-lm leaves the others
// in float; stories260K's down_proj with 172 inputs is one).
bool is_quantizable(int64_t in_features, const QuantizationConfig& config);

// The 16 NF4 code values (QLoRA paper, Appendix E; bitsandbytes
// csrc/kernels.cu dDequantizeNF4), ascending, index = 4-bit code.
const std::array<float, 16>& nf4_code_table();
// bitsandbytes' signed 8-bit "dynamic" map (create_dynamic_map(signed=True)),
// ascending, used for the double quantization of the NF4 absmax values.
const std::array<float, 256>& dynamic_code_table();

// A quantized weight matrix W (rows = out, cols = in), grouped along the
// input dimension. Holds only packed codes and per-group constants.
struct QuantizedMatrix {
  QuantizationConfig config;
  int64_t rows = 0;  // out features
  int64_t cols = 0;  // in features

  // Affine (MLX): w ≈ scales[g]·q + biases[g], q ∈ [0, 2^bits − 1]; value j of
  // a uint32 word at bits [j·bits, (j+1)·bits), row-major (rows, cols·bits/32).
  std::vector<uint32_t> packed;
  std::vector<float> scales;  // (rows, cols / group_size)
  std::vector<float> biases;  // (rows, cols / group_size)

  // NF4 (bitsandbytes): w ≈ nf4[code]·absmax[block], two codes per byte with
  // the first of the pair in the high nibble, row-major (rows, cols / 2).
  // absmax[b] = dynamic[absmax_codes[b]]·nested_absmax[b / 256] + absmax_offset.
  std::vector<uint8_t> codes;
  std::vector<uint8_t> absmax_codes;  // one per block of group_size weights
  std::vector<float> nested_absmax;   // one per 256 absmax values
  float absmax_offset = 0.0f;         // mean of the absmax values

  // Quantizes `weight` (out, in). Throws InvalidInput if the config is invalid
  // or `in` is not a multiple of the group size (check is_quantizable first).
  static QuantizedMatrix quantize(const Matrix& weight, const QuantizationConfig& config);

  bool is_nf4() const { return config.mode == QuantizationConfig::Mode::kNf4; }
  int64_t groups_per_row() const { return cols / config.group_size; }

  // The whole dequantized matrix (rows, cols): for tests, saving and fusing.
  Matrix dequantize() const;
  // Rows [begin, begin + count) dequantized into `out` (count × cols, row-major).
  void dequantize_rows(int64_t begin, int64_t count, float* out) const;
  // Columns [begin, begin + count) of every row into `out` (rows × count,
  // row-major); begin and count must be multiples of the group size.
  void dequantize_cols(int64_t begin, int64_t count, float* out) const;

  // y = x · dequant(W)ᵀ for x (n, in); y becomes (n, out). The forward product.
  void multiply_transposed(const Matrix& x, Matrix& y) const;
  // dx = dy · dequant(W) for dy (n, out); dx becomes (n, in). The input
  // gradient of the forward product.
  void multiply(const Matrix& dy, Matrix& dx) const;

  // Bytes held (packed codes and constants), for memory accounting.
  int64_t bytes() const;
  // Rows [begin, begin + count) as a matrix of their own (affine only: NF4's
  // double-quantized absmax blocks span rows). Splits phi3's fused projections.
  QuantizedMatrix slice_rows(int64_t begin, int64_t count) const;
  // Rows of `parts` stacked in order (affine only; same config and cols).
  static QuantizedMatrix concat_rows(const std::vector<const QuantizedMatrix*>& parts);
};

}  // namespace lorafarm::engine
