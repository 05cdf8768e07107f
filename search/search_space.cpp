// Search-space validation, parsing and the unit-cube encoding.
#include "search/search_space.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <set>

namespace lorafarm::search {
namespace {

std::string field(const std::string& name, std::string_view key) {
  return "search_space." + name + (key.empty() ? "" : "." + std::string(key));
}

[[noreturn]] void fail(const std::string& where, const std::string& what) {
  throw InvalidSpace(where + ": " + what);
}

bool valid_name(std::string_view name) {
  if (name.empty()) return false;
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (!alpha(name[0])) return false;
  return std::all_of(name.begin(), name.end(), [&](char c) { return alpha(c) || (c >= '0' && c <= '9'); });
}

double warp(const Parameter& p, double v) { return p.log ? std::log(v) : v; }
double unwarp(const Parameter& p, double w) { return p.log ? std::exp(w) : w; }

// Bounds in warped space; ints own [low-0.5, high+0.5] (in log space for log ints).
std::pair<double, double> warped_bounds(const Parameter& p) {
  if (p.type == ParamType::Int) {
    const double lo = p.low - 0.5, hi = p.high + 0.5;
    if (p.log) return {std::log(std::max(lo, p.low * 0.5)), std::log(hi)};
    return {lo, hi};
  }
  return {warp(p, p.low), warp(p, p.high)};
}

}  // namespace

std::string_view to_string(ParamType type) {
  switch (type) {
    case ParamType::Float: return "float";
    case ParamType::Int: return "int";
    case ParamType::Categorical: return "categorical";
  }
  return "?";
}

double Parameter::to_unit(const nlohmann::json& value) const {
  if (type == ParamType::Categorical) {
    const auto it = std::find(choices.begin(), choices.end(), value);
    if (it == choices.end()) fail(field(name, ""), "value " + value.dump() + " is not one of the choices");
    const double k = static_cast<double>(choices.size());
    return (static_cast<double>(it - choices.begin()) + 0.5) / k;
  }
  if (!value.is_number()) fail(field(name, ""), "value " + value.dump() + " is not a number");
  const auto [lo, hi] = warped_bounds(*this);
  const double v = value.get<double>();
  if (log && v <= 0) fail(field(name, ""), "value " + value.dump() + " must be > 0 on a log scale");
  if (hi == lo) return 0.5;
  return std::clamp((warp(*this, v) - lo) / (hi - lo), 0.0, 1.0);
}

nlohmann::json Parameter::from_unit(double u) const {
  u = std::clamp(u, 0.0, 1.0);
  if (type == ParamType::Categorical) {
    const auto k = choices.size();
    const auto i = std::min(k - 1, static_cast<std::size_t>(u * static_cast<double>(k)));
    return choices[i];
  }
  const auto [lo, hi] = warped_bounds(*this);
  const double v = unwarp(*this, lo + u * (hi - lo));
  if (type == ParamType::Int) {
    return static_cast<std::int64_t>(std::clamp(std::round(v), low, high));
  }
  return std::clamp(v, low, high);
}

std::vector<nlohmann::json> Parameter::grid_values() const {
  if (type == ParamType::Categorical) return choices;
  std::vector<nlohmann::json> values;
  const int k = std::max(1, grid_points);
  for (int i = 0; i < k; ++i) {
    const double t = k == 1 ? 0.5 : static_cast<double>(i) / (k - 1);
    const double w = warp(*this, low) + t * (warp(*this, high) - warp(*this, low));
    double v = std::clamp(unwarp(*this, w), low, high);
    if (v != 0) {  // 12 significant digits: 1e-3, not 0.0010000000000000002
      const double scale = std::pow(10.0, 11 - std::floor(std::log10(std::fabs(v))));
      v = std::clamp(std::round(v * scale) / scale, low, high);
    }
    nlohmann::json value = type == ParamType::Int ? nlohmann::json(static_cast<std::int64_t>(std::round(v))) : nlohmann::json(v);
    if (std::find(values.begin(), values.end(), value) == values.end()) values.push_back(value);
  }
  return values;
}

SearchSpace::SearchSpace(std::vector<Parameter> parameters) {
  std::map<std::string, const Parameter*> by_name;
  for (const auto& p : parameters) {
    if (!valid_name(p.name)) fail("search_space", "parameter name '" + p.name + "' must match [A-Za-z_][A-Za-z0-9_]*");
    if (!by_name.emplace(p.name, &p).second) fail(field(p.name, ""), "defined twice");
    if (p.type == ParamType::Categorical) {
      if (p.choices.empty()) fail(field(p.name, "values"), "a categorical parameter needs at least one value");
      for (std::size_t i = 0; i < p.choices.size(); ++i) {
        const auto& c = p.choices[i];
        if (!(c.is_string() || c.is_number() || c.is_boolean()))
          fail(field(p.name, "values"), "value " + c.dump() + " must be a string, number or boolean");
        if (std::find(p.choices.begin(), p.choices.begin() + static_cast<std::ptrdiff_t>(i), c) != p.choices.begin() + static_cast<std::ptrdiff_t>(i))
          fail(field(p.name, "values"), "value " + c.dump() + " is listed twice");
      }
    } else {
      if (!std::isfinite(p.low) || !std::isfinite(p.high)) fail(field(p.name, "low"), "bounds must be finite numbers");
      if (p.low > p.high)
        fail(field(p.name, "low"), "low " + nlohmann::json(p.low).dump() + " is greater than high " + nlohmann::json(p.high).dump());
      if (p.log && p.low <= 0) fail(field(p.name, "low"), "low " + nlohmann::json(p.low).dump() + " must be > 0 when log is true");
      if (p.type == ParamType::Int && (p.low != std::floor(p.low) || p.high != std::floor(p.high)))
        fail(field(p.name, "low"), "an int parameter needs integer bounds");
      if (p.grid_points < 1) fail(field(p.name, "grid_points"), "must be >= 1");
    }
  }
  for (const auto& p : parameters) {
    if (!p.condition) continue;
    const auto it = by_name.find(p.condition->parent);
    if (it == by_name.end()) fail(field(p.name, "condition.param"), "unknown parameter '" + p.condition->parent + "'");
    if (it->second->type != ParamType::Categorical)
      fail(field(p.name, "condition.param"), "'" + p.condition->parent + "' must be a categorical parameter");
    for (const auto& v : p.condition->values) {
      const auto& cs = it->second->choices;
      if (std::find(cs.begin(), cs.end(), v) == cs.end())
        fail(field(p.name, "condition"), "value " + v.dump() + " is not a value of '" + p.condition->parent + "'");
    }
  }
  // Order parents first (depth), then by name; detect cycles.
  std::map<std::string, int> depth;
  std::function<int(const Parameter&, int)> depth_of = [&](const Parameter& p, int guard) -> int {
    if (guard > static_cast<int>(parameters.size())) fail(field(p.name, "condition"), "conditions form a cycle");
    if (!p.condition) return 0;
    return 1 + depth_of(*by_name.at(p.condition->parent), guard + 1);
  };
  for (const auto& p : parameters) depth[p.name] = depth_of(p, 0);
  std::stable_sort(parameters.begin(), parameters.end(), [&](const Parameter& a, const Parameter& b) {
    const int da = depth[a.name], db = depth[b.name];
    return da != db ? da < db : a.name < b.name;
  });
  parameters_ = std::move(parameters);
}

SearchSpace SearchSpace::from_json(const nlohmann::json& object) {
  if (!object.is_object()) fail("search_space", "must be an object {name: {type: ...}}, got " + object.dump());
  std::vector<Parameter> parameters;
  for (const auto& [name, def] : object.items()) {
    if (!def.is_object()) fail(field(name, ""), "must be an object with a \"type\", got " + def.dump());
    static const std::set<std::string> known{"type", "low", "high", "log", "values", "grid_points", "condition"};
    for (const auto& [key, unused] : def.items()) {
      if (!known.count(key))
        fail(field(name, key), "unknown field; allowed: type, low, high, log, values, grid_points, condition");
    }
    Parameter p;
    p.name = name;
    if (!def.contains("type") || !def["type"].is_string()) fail(field(name, "type"), "missing; allowed: float, int, categorical");
    const auto type = def["type"].get<std::string>();
    if (type == "float") p.type = ParamType::Float;
    else if (type == "int") p.type = ParamType::Int;
    else if (type == "categorical") p.type = ParamType::Categorical;
    else fail(field(name, "type"), "'" + type + "' is not allowed; allowed: float, int, categorical");
    if (p.type == ParamType::Categorical) {
      if (!def.contains("values") || !def["values"].is_array())
        fail(field(name, "values"), "a categorical parameter needs \"values\": [..]");
      p.choices.assign(def["values"].begin(), def["values"].end());
      for (const char* key : {"low", "high", "log", "grid_points"})
        if (def.contains(key)) fail(field(name, key), "not allowed for a categorical parameter");
    } else {
      if (def.contains("values")) fail(field(name, "values"), "only for categorical parameters (use low/high)");
      for (const char* key : {"low", "high"}) {
        if (!def.contains(key) || !def[key].is_number())
          fail(field(name, key), std::string("a ") + type + " parameter needs a number, got " + (def.contains(key) ? def[key].dump() : "nothing"));
      }
      p.low = def["low"].get<double>();
      p.high = def["high"].get<double>();
      if (def.contains("log")) {
        if (!def["log"].is_boolean()) fail(field(name, "log"), "must be true or false, got " + def["log"].dump());
        p.log = def["log"].get<bool>();
      }
      if (def.contains("grid_points")) {
        if (!def["grid_points"].is_number_integer()) fail(field(name, "grid_points"), "must be an integer >= 1, got " + def["grid_points"].dump());
        p.grid_points = def["grid_points"].get<int>();
      }
    }
    if (def.contains("condition")) {
      const auto& c = def["condition"];
      const std::string where = field(name, "condition");
      if (!c.is_object() || !c.contains("param") || !c["param"].is_string())
        fail(where, "must be {\"param\": NAME, \"in\": [..]} or {\"param\": NAME, \"not_in\": [..]}, got " + c.dump());
      const bool has_in = c.contains("in"), has_not_in = c.contains("not_in");
      if (has_in == has_not_in || c.size() != 2) fail(where, "needs exactly one of \"in\" or \"not_in\" besides \"param\", got " + c.dump());
      const auto& values = has_in ? c["in"] : c["not_in"];
      if (!values.is_array() || values.empty()) fail(where, "\"in\"/\"not_in\" must be a non-empty array, got " + values.dump());
      p.condition = Condition{c["param"].get<std::string>(), {values.begin(), values.end()}, has_not_in};
    }
    parameters.push_back(std::move(p));
  }
  return SearchSpace(std::move(parameters));
}

nlohmann::json SearchSpace::to_json() const {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& p : parameters_) {
    nlohmann::json def{{"type", to_string(p.type)}};
    if (p.type == ParamType::Categorical) {
      def["values"] = p.choices;
    } else {
      def["low"] = p.low;
      def["high"] = p.high;
      def["log"] = p.log;
      def["grid_points"] = p.grid_points;
    }
    if (p.condition) def["condition"] = {{"param", p.condition->parent}, {p.condition->negate ? "not_in" : "in", p.condition->values}};
    out[p.name] = def;
  }
  return out;
}

std::optional<std::size_t> SearchSpace::index_of(std::string_view name) const {
  for (std::size_t i = 0; i < parameters_.size(); ++i)
    if (parameters_[i].name == name) return i;
  return std::nullopt;
}

bool SearchSpace::is_active(const Parameter& parameter, const Params& params) const {
  if (!parameter.condition) return true;
  const auto& c = *parameter.condition;
  const auto parent = index_of(c.parent);
  if (!parent || !is_active(parameters_[*parent], params)) return false;
  if (!params.is_object() || !params.contains(c.parent)) return false;
  const bool listed = std::find(c.values.begin(), c.values.end(), params[c.parent]) != c.values.end();
  return listed != c.negate;
}

Encoded SearchSpace::encode(const Params& params) const {
  Encoded e;
  e.x.reserve(parameters_.size());
  for (const auto& p : parameters_) {
    const bool active = is_active(p, params) && params.contains(p.name);
    e.active.push_back(active);
    e.x.push_back(active ? p.to_unit(params[p.name]) : 0.5);
  }
  return e;
}

Params SearchSpace::decode(std::span<const double> unit) const {
  if (unit.size() != parameters_.size())
    throw InvalidSpace("decode: got " + std::to_string(unit.size()) + " coordinates for " + std::to_string(parameters_.size()) + " parameters");
  Params params = Params::object();
  // parameters_ is parents-first, so a child's condition sees its parent's value.
  for (std::size_t i = 0; i < parameters_.size(); ++i) {
    if (is_active(parameters_[i], params)) params[parameters_[i].name] = parameters_[i].from_unit(unit[i]);
  }
  return params;
}

void SearchSpace::validate(const Params& params) const {
  if (!params.is_object()) throw InvalidSpace("parameters must be an object, got " + params.dump());
  for (const auto& [name, value] : params.items()) {
    if (!index_of(name)) throw InvalidSpace("parameter '" + name + "' is not in the search space");
  }
  for (const auto& p : parameters_) {
    const bool active = is_active(p, params);
    if (!active) {
      if (params.contains(p.name)) throw InvalidSpace(field(p.name, "") + ": set but inactive (condition not met)");
      continue;
    }
    if (!params.contains(p.name)) throw InvalidSpace(field(p.name, "") + ": missing");
    const auto& v = params[p.name];
    if (p.type == ParamType::Categorical) {
      if (std::find(p.choices.begin(), p.choices.end(), v) == p.choices.end())
        throw InvalidSpace(field(p.name, "") + ": value " + v.dump() + " is not one of " + nlohmann::json(p.choices).dump());
      continue;
    }
    if (p.type == ParamType::Int && !v.is_number_integer()) throw InvalidSpace(field(p.name, "") + ": value " + v.dump() + " is not an integer");
    if (!v.is_number()) throw InvalidSpace(field(p.name, "") + ": value " + v.dump() + " is not a number");
    const double d = v.get<double>();
    if (d < p.low || d > p.high)
      throw InvalidSpace(field(p.name, "") + ": value " + v.dump() + " is outside [" + nlohmann::json(p.low).dump() + ", " + nlohmann::json(p.high).dump() + "]");
  }
}

}  // namespace lorafarm::search
