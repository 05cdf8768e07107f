// Fuzzes the safetensors reader: the 8-byte header length, the JSON header and
// its dtype/shape/data_offsets checks. The input is the whole file. Every
// tensor it accepts must lie inside the file and be readable to the last byte.
#include "engine/error.h"
#include "engine/safetensors.h"
#include "fuzz/fuzz_target.h"

LORAFARM_FUZZ_TARGET(safetensors) {
  using namespace lorafarm;
  static fuzz::MemoryFile file("safetensors_fuzz");
  const auto& path = file.write({data, size});
  try {
    const auto st = engine::SafetensorsFile::open(path);
    for (const auto& [name, view] : st.tensors()) {
      fuzz::check(view.bytes.size() ==
                  static_cast<std::size_t>(view.num_elements()) * engine::dtype_size(view.dtype));
      unsigned sum = 0;  // touch every byte so ASan sees any read past the mapping
      for (const std::byte b : view.bytes) sum += static_cast<unsigned>(b);
      (void)sum;
      if (view.dtype == engine::DType::kF32 || view.dtype == engine::DType::kF16 || view.dtype == engine::DType::kBF16) {
        fuzz::check(view.to_float().size() == static_cast<std::size_t>(view.num_elements()));
      }
    }
  } catch (const engine::InvalidInput&) {
    // the expected outcome for a bad file
  }
  return 0;
}
