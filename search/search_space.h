// A search space: named parameters (float, int, categorical; linear or log
// scale; optionally active only under a condition on a categorical parent) and
// the encoding of a configuration to and from the unit cube that samplers use.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace lorafarm::search {

// A configuration: a JSON object {name: value}. Inactive parameters are absent.
// Floats are JSON numbers, ints JSON integers, categoricals one of the choices.
using Params = nlohmann::json;

// A mistake in a search-space definition or a configuration; the message names
// the parameter (as `search_space.<name>.<field>`), the value and what is allowed.
class InvalidSpace : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

enum class ParamType { Float, Int, Categorical };
std::string_view to_string(ParamType type);

// `param` is active only when the value of the categorical parameter `parent`
// is (or, with negate, is not) one of `values`, and `parent` is itself active.
struct Condition {
  std::string parent;
  std::vector<nlohmann::json> values;
  bool negate = false;
};

struct Parameter {
  std::string name;
  ParamType type = ParamType::Float;
  double low = 0.0;   // Float / Int: inclusive bounds
  double high = 1.0;
  bool log = false;   // Float / Int: uniform in log(value)
  std::vector<nlohmann::json> choices;  // Categorical
  int grid_points = 3;                  // Float / Int: points the grid sampler uses
  std::optional<Condition> condition;

  // Unit-interval coordinate of a value: linear or log between low and high;
  // ints map through [low-0.5, high+0.5] so every int owns an equal share;
  // the i-th of k choices owns [i/k, (i+1)/k) and encodes to its centre.
  double to_unit(const nlohmann::json& value) const;
  // Inverse of to_unit (rounding ints, binning categoricals); u is clamped to [0,1].
  nlohmann::json from_unit(double u) const;
  // The values the grid sampler enumerates, in order.
  std::vector<nlohmann::json> grid_values() const;
};

// A point of the unit cube: one coordinate per parameter, in parameters()
// order, and whether that parameter is active (inactive coordinates are 0.5 and
// must be ignored by models).
struct Encoded {
  std::vector<double> x;
  std::vector<bool> active;
};

class SearchSpace {
 public:
  SearchSpace() = default;
  // Validates names (unique, [A-Za-z_][A-Za-z0-9_]*), bounds, choices and
  // conditions (parent exists, is categorical, no cycles); throws InvalidSpace.
  explicit SearchSpace(std::vector<Parameter> parameters);

  // Parses {"name": {"type": "float"|"int"|"categorical", "low", "high",
  // "log", "values", "grid_points", "condition": {"param", "in"|"not_in"}}}.
  // See docs/sweep-spec.md. Parameters are ordered parents-first, then by name.
  static SearchSpace from_json(const nlohmann::json& object);
  nlohmann::json to_json() const;

  std::span<const Parameter> parameters() const { return parameters_; }
  std::size_t dimensions() const { return parameters_.size(); }
  std::optional<std::size_t> index_of(std::string_view name) const;

  // Whether `parameter` is active given the (partial) configuration `params`.
  bool is_active(const Parameter& parameter, const Params& params) const;

  Encoded encode(const Params& params) const;
  // Decodes a unit-cube point (size dimensions()); inactive parameters are left out.
  Params decode(std::span<const double> unit) const;

  // Throws InvalidSpace unless `params` has exactly the active parameters, each
  // of the right type and within bounds.
  void validate(const Params& params) const;

 private:
  std::vector<Parameter> parameters_;  // parents before their children
};

}  // namespace lorafarm::search
