// The memory an engine trial holds, by category, as the metrics it reports
// ("memory_<key>_mb", MiB) and the report's breakdown reads. What is not in a
// category ("other": code, allocator slack, buffers) is the worker's measured
// peak RSS minus their sum; the report computes it.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace lorafarm::schema {

struct MemoryCategory {
  std::string_view key;    // e.g. "optimizer_state"
  std::string_view label;  // e.g. "optimizer state"
};

// In the order the breakdown stacks them: base weights, quantized weights,
// adapter parameters, gradients, optimizer state, activations, reference model.
std::span<const MemoryCategory> memory_categories();

// "memory_<key>_mb".
std::string memory_metric_name(std::string_view key);

}  // namespace lorafarm::schema
