// `trial.resources`: parsing against the search space, and resolution per trial.
#include "schema/trial_resources.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "schema/error.h"

namespace lorafarm::schema {

using nlohmann::json;

namespace {

constexpr double kMaxAmount = double(1LL << 40);

[[noreturn]] void fail(std::string_view source, const std::string& field, const std::string& what) {
  throw SpecError(std::string(source) + ": trial.resources." + field + ": " + what);
}

bool numeric_parameter(const search::Parameter& p) {
  if (p.type != search::ParamType::Categorical) return true;
  return std::all_of(p.choices.begin(), p.choices.end(), [](const json& c) { return c.is_number(); });
}

// A whole count (gpus, cpus) or a size in MB.
ResourceAmount parse_amount(std::string_view source, const std::string& field, const json& v, const search::SearchSpace& space) {
  const bool whole = field != "memory_mb";
  const std::string expected = whole ? "an integer >= 0" : "a number >= 0";
  if (v.is_string()) {
    const auto name = v.get<std::string>();
    const auto index = space.index_of(name);
    if (!index) fail(source, field, "'" + name + "' is not a search_space parameter; give " + expected + " or a parameter name");
    if (!numeric_parameter(space.parameters()[*index])) fail(source, field, "parameter '" + name + "' is not numeric");
    return {0, name};
  }
  const bool ok = v.is_number() && std::isfinite(v.get<double>()) && v.get<double>() >= 0 && v.get<double>() <= kMaxAmount &&
                  (!whole || v.is_number_integer());
  if (!ok) fail(source, field, "must be " + expected + " or the name of a search_space parameter, got " + v.dump());
  return {v.get<double>(), ""};
}

double amount_of(const ResourceAmount& a, const std::string& field, const search::Params& params, bool whole) {
  if (a.parameter.empty()) return a.value;
  const auto it = params.find(a.parameter);
  if (it == params.end() || !it->is_number())
    throw std::invalid_argument("trial.resources." + field + ": parameter '" + a.parameter + "' has no numeric value in this trial");
  const double v = it->get<double>();
  if (!std::isfinite(v) || v < 0 || v > kMaxAmount || (whole && v != std::floor(v)))
    throw std::invalid_argument("trial.resources." + field + ": parameter '" + a.parameter + "' = " + it->dump() + " is not " +
                                (whole ? "an integer >= 0" : "a number >= 0"));
  return v;
}

}  // namespace

ResourceRequest parse_resource_request(std::string_view source, const json& value, const search::SearchSpace& space) {
  if (!value.is_object()) throw SpecError(std::string(source) + ": trial.resources: must be an object {\"gpus\": N, \"memory_mb\": N, \"cpus\": N}, got " + value.dump());
  ResourceRequest request;
  for (const auto& [key, v] : value.items()) {
    if (key == "gpus") request.gpus = parse_amount(source, key, v, space);
    else if (key == "memory_mb") request.memory_mb = parse_amount(source, key, v, space);
    else if (key == "cpus") request.cpus = parse_amount(source, key, v, space);
    else fail(source, key, "unknown field; allowed: cpus, gpus, memory_mb");
  }
  return request;
}

ResourceNeed resolve_resources(const ResourceRequest& request, const search::Params& params) {
  ResourceNeed need;
  if (request.gpus) need.gpus = static_cast<int>(amount_of(*request.gpus, "gpus", params, true));
  if (request.memory_mb) need.memory_mb = amount_of(*request.memory_mb, "memory_mb", params, false);
  if (request.cpus) need.cpus = static_cast<int>(amount_of(*request.cpus, "cpus", params, true));
  return need;
}

}  // namespace lorafarm::schema
