// Matrix products split over the OpenMP team by blocks of the result, each
// block computed on one thread by the packed AVX-512 kernel (gemm_kernel.h)
// or, for thin and small blocks and on other CPUs, by Eigen's kernel.
//
// Why not Eigen's own threading: its parallel GEMM synchronises its threads
// with busy-wait loops on shared packing buffers, so on a machine whose cores
// are shared (other trials, builds) a descheduled partner makes the other
// thread spin away its time slice — 2-thread training steps measured 4x the
// CPU time of 1-thread ones. Here threads meet only at the OpenMP barrier,
// which honours OMP_WAIT_POLICY. Results are deterministic for a given thread
// count (every element is computed by one thread in a fixed order).
//
// Under bf16 products (engine/precision.h) the packed kernel rounds both
// operands to bf16 while packing and accumulates in fp32; thin and small
// products stay fp32.
#pragma once

#include <cstdint>
#include <memory>

#include "engine/gemm_kernel.h"
#include "engine/half_matrix.h"
#include "engine/tensor.h"

namespace lorafarm::engine {

// c = alpha·op(a)·op(b) + beta·c with op(m) = mᵀ when the flag is set and
// beta 0 or 1; c must already have the product's shape.
void gemm(Eigen::Ref<const Matrix> a, bool transpose_a, Eigen::Ref<const Matrix> b, bool transpose_b,
          Eigen::Ref<Matrix> c, float alpha = 1.0f, float beta = 0.0f);

// c = alpha·op(a)·op(b), resizing c.
void matmul(Eigen::Ref<const Matrix> a, bool transpose_a, Eigen::Ref<const Matrix> b, bool transpose_b, Matrix& c,
            float alpha = 1.0f);

// A frozen weight as a product operand: float32, or 16-bit values widened
// while they are packed (never widened whole). The referenced matrix must
// outlive the product.
struct WeightRef {
  WeightRef(const Matrix& m) : f32(m.data()), rows(m.rows()), cols(m.cols()) {}  // NOLINT: implicit by design
  WeightRef(const HalfMatrix& h) : half(&h), rows(h.rows), cols(h.cols) {}       // NOLINT: implicit by design

  const float* f32 = nullptr;
  const HalfMatrix* half = nullptr;
  Eigen::Index rows = 0, cols = 0;
};

// gemm and matmul with a weight (float32 or 16-bit) as the second operand.
void weight_gemm(Eigen::Ref<const Matrix> a, bool transpose_a, const WeightRef& b, bool transpose_b,
                 Eigen::Ref<Matrix> c, float alpha = 1.0f, float beta = 0.0f);
void weight_matmul(Eigen::Ref<const Matrix> a, bool transpose_a, const WeightRef& b, bool transpose_b, Matrix& c,
                   float alpha = 1.0f);

// op(weight) rounded to bf16 and packed once, for several products that
// share it (the vocabulary head over its row chunks: packing it per chunk was
// a third of a small model's bf16 step). It holds 2 bytes a value. It packs
// only while products are bf16 on a CPU that runs them; otherwise it stays
// empty and products pack as usual.
class PackedWeight {
 public:
  PackedWeight() = default;
  PackedWeight(const WeightRef& weight, bool transpose);
  PackedWeight(PackedWeight&&) noexcept;
  PackedWeight& operator=(PackedWeight&&) noexcept;
  ~PackedWeight();

  bool empty() const { return packed_ == nullptr; }
  std::int64_t bytes() const;
  const PackedBf16Operand* operand() const { return packed_.get(); }
  bool transposed() const { return transposed_; }

 private:
  std::unique_ptr<PackedBf16Operand> packed_;
  bool transposed_ = false;
};

// weight_gemm whose op(b) is `packed` (made from b with transpose_b) when it
// is not empty and products are bf16.
void weight_gemm(Eigen::Ref<const Matrix> a, bool transpose_a, const WeightRef& b, bool transpose_b,
                 const PackedWeight& packed, Eigen::Ref<Matrix> c, float alpha = 1.0f, float beta = 0.0f);

}  // namespace lorafarm::engine
