// What a worker offers (devices, memory, cores: `lorafarm worker --gpus
// --memory --cpus`, sent in HELLO) and what one trial holds of it (the
// allocation the coordinator sends in ASSIGN and records with the attempt).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lorafarm::schema {

struct WorkerOffer {
  std::vector<std::string> gpus;          // device ids as CUDA_VISIBLE_DEVICES names them
  std::optional<std::int64_t> memory_mb;  // absent: memory does not limit placement
  std::optional<int> cpus;                // absent: cores do not limit placement

  bool empty() const { return gpus.empty() && !memory_mb && !cpus; }
  // HELLO's `resources` object; fields that are not declared are left out.
  nlohmann::json to_json() const;
  // From a HELLO's `resources` (validated by offer_problem first).
  static WorkerOffer from_json(const nlohmann::json& resources);
};

// Why `resources` is not a valid offer ("gpus: must be ..."), or nullopt.
std::optional<std::string> offer_problem(const nlohmann::json& resources);

struct Allocation {
  std::optional<std::vector<std::string>> gpus;  // set when the worker offers devices (empty: the trial must use none)
  double memory_mb = 0;
  int cpus = 0;

  nlohmann::json to_json() const;
  static Allocation from_json(const nlohmann::json& resources);
};

// Why an ASSIGN's `resources` is malformed, or nullopt.
std::optional<std::string> allocation_problem(const nlohmann::json& resources);

// "16G", "512M", "16GB", "1.5T", "4000" (MB) -> MB (1G = 1024M). Throws
// std::invalid_argument naming the accepted forms.
std::int64_t parse_memory_size(std::string_view text);

// "0,1,2,3" -> {"0","1","2","3"}; ids are non-empty and distinct. Throws std::invalid_argument.
std::vector<std::string> parse_device_list(std::string_view text);

}  // namespace lorafarm::schema
