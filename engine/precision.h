// The precision of the engine's matrix products for the whole process:
// float32, or bf16 products with float32 accumulation (mixed precision).
// Master weights, optimizer state and the loss are float32 either way.
#pragma once

#include <string>
#include <string_view>

namespace lorafarm::engine {

enum class Precision { kF32, kBF16 };

// "fp32" | "bf16"; InvalidInput naming the value otherwise.
Precision parse_precision(std::string_view name);
const char* precision_name(Precision precision);

// Whether this CPU runs bf16 products (AVX-512 BF16, `vdpbf16ps`), checked at run time.
bool bf16_products_supported();

// Sets the precision of every product from now on. Asked for bf16 on a CPU
// without AVX-512 BF16, products stay fp32 and the returned line says so
// (empty when the request was honoured).
std::string set_product_precision(Precision precision);
Precision product_precision();

// Restores the previous precision when it goes (for tests and benches).
class ScopedPrecision {
 public:
  explicit ScopedPrecision(Precision precision)
      : previous_(product_precision()), note_(set_product_precision(precision)) {}
  ~ScopedPrecision() { set_product_precision(previous_); }
  // set_product_precision's line (empty unless bf16 fell back to fp32).
  const std::string& note() const { return note_; }
  ScopedPrecision(const ScopedPrecision&) = delete;
  ScopedPrecision& operator=(const ScopedPrecision&) = delete;

 private:
  Precision previous_;
  std::string note_;
};

}  // namespace lorafarm::engine
