// A trainable tensor as the optimizer and adapter files see it: a name, its
// values and its gradient as flat float arrays of the same size.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace lorafarm::engine {

struct ParamRef {
  std::string name;            // e.g. "model.layers.3.self_attn.q_proj.lora_a"
  std::vector<int64_t> shape;  // as saved (row-major)
  float* value = nullptr;
  float* grad = nullptr;
  int64_t size = 0;

  std::span<float> values() const { return {value, static_cast<std::size_t>(size)}; }
  std::span<float> grads() const { return {grad, static_cast<std::size_t>(size)}; }
};

}  // namespace lorafarm::engine
