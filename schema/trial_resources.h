// What one trial asks for (`trial.resources` of the sweep spec: gpus,
// memory_mb, cpus), each a fixed number or the name of a search parameter,
// and the amounts resolved for a trial's parameters.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

#include "search/search_space.h"

namespace lorafarm::schema {

// A fixed number, or the value of a search-space parameter.
struct ResourceAmount {
  double value = 0;
  std::string parameter;  // non-empty: read from the trial's parameters
};

struct ResourceRequest {
  std::optional<ResourceAmount> gpus;  // absent: one device on a worker with --gpus, none elsewhere
  std::optional<ResourceAmount> memory_mb;
  std::optional<ResourceAmount> cpus;

  bool empty() const { return !gpus && !memory_mb && !cpus; }
};

// A trial's needs for its parameters.
struct ResourceNeed {
  std::optional<int> gpus;  // nullopt: the default above
  double memory_mb = 0;
  int cpus = 0;
};

// Parses `trial.resources`; throws SpecError naming the field. Parameter names
// must be int or float parameters of `space`.
ResourceRequest parse_resource_request(std::string_view source, const nlohmann::json& value, const search::SearchSpace& space);

// The needs of a trial with `params`; throws std::invalid_argument when a
// referenced parameter is absent (a conditional one) or out of range.
ResourceNeed resolve_resources(const ResourceRequest& request, const search::Params& params);

}  // namespace lorafarm::schema
