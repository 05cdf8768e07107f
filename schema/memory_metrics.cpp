// Memory categories and their metric names (schema/memory_metrics.h).
#include "schema/memory_metrics.h"

#include <array>

namespace lorafarm::schema {

std::span<const MemoryCategory> memory_categories() {
  static constexpr std::array<MemoryCategory, 7> kCategories{{{"base_weights", "base weights"},
                                                              {"quantized_weights", "quantized weights"},
                                                              {"adapter", "adapter parameters"},
                                                              {"gradients", "gradients"},
                                                              {"optimizer_state", "optimizer state"},
                                                              {"activations", "activations"},
                                                              {"reference_model", "reference model"}}};
  return kCategories;
}

std::string memory_metric_name(std::string_view key) { return "memory_" + std::string(key) + "_mb"; }

}  // namespace lorafarm::schema
