// Product precision: the process-wide setting and the CPU check behind it.
#include "engine/precision.h"

#include <atomic>

#include "engine/error.h"
#include "engine/gemm_kernel.h"

namespace lorafarm::engine {
namespace {

std::atomic<Precision> current{Precision::kF32};

}  // namespace

Precision parse_precision(std::string_view name) {
  if (name == "fp32") return Precision::kF32;
  if (name == "bf16") return Precision::kBF16;
  throw InvalidInput("precision '" + std::string(name) + "' is not fp32 or bf16");
}

const char* precision_name(Precision precision) { return precision == Precision::kBF16 ? "bf16" : "fp32"; }

bool bf16_products_supported() { return packed_gemm_bf16_available(); }

std::string set_product_precision(Precision precision) {
  if (precision == Precision::kBF16 && !bf16_products_supported()) {
    current = Precision::kF32;
    return "precision bf16: this CPU has no AVX-512 BF16 (vdpbf16ps); products run in fp32";
  }
  current = precision;
  return "";
}

Precision product_precision() { return current.load(std::memory_order_relaxed); }

}  // namespace lorafarm::engine
