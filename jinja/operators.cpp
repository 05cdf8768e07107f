// Arithmetic, comparison, membership, concatenation, indexing and slicing.
#include "jinja/operators.h"

#include <cmath>

#include "jinja/builtins.h"
#include "jinja/template_error.h"
#include "jinja/text.h"

namespace lorafarm::jinja {
namespace {

using Kind = Value::Kind;

[[noreturn]] void unsupported(const std::string& op, const Value& left, const Value& right) {
  throw TemplateError("the operator '" + op + "' cannot be applied to a " + left.kind_name() + " and a " +
                      right.kind_name());
}

// JavaScript's ===, which `in` uses on array items.
bool strict_equal(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) return a.as_number() == b.as_number();
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Kind::kUndefined:
    case Kind::kNull:
      return true;
    case Kind::kBool:
      return a.as_bool() == b.as_bool();
    case Kind::kString:
      return a.as_string() == b.as_string();
    default:
      return loose_equal(a, b);  // identity for arrays, mappings, functions
  }
}

Value numeric(const std::string& op, const Value& left, const Value& right) {
  const double a = left.as_number(), b = right.as_number();
  const bool floating = left.is(Kind::kFloat) || right.is(Kind::kFloat);
  auto number = [&](double r) { return floating ? Value::floating(r) : Value::integer(static_cast<int64_t>(r)); };
  if (op == "+") return number(a + b);
  if (op == "-") return number(a - b);
  if (op == "*") return number(a * b);
  if (op == "/") return Value::floating(a / b);
  if (op == "<") return Value::boolean(a < b);
  if (op == ">") return Value::boolean(a > b);
  if (op == "<=") return Value::boolean(a <= b);
  if (op == ">=") return Value::boolean(a >= b);
  if ((op == "//" || op == "%") && b == 0 && !floating) throw TemplateError("integer division by zero");
  if (op == "//") return number(std::floor(a / b));
  if (op == "%") return number(std::fmod(a, b));  // JavaScript's remainder keeps the dividend's sign
  return Value::boolean(false);                   // `in` and friends are handled by the caller
}

Value concatenate_with_undefined(const std::string& op, const Value& left, const Value& right) {
  if (op == "~" && !left.is(Kind::kNull) && !right.is(Kind::kNull)) {
    const std::string a = left.is(Kind::kUndefined) ? "" : left.to_concat_string();
    const std::string b = right.is(Kind::kUndefined) ? "" : right.to_concat_string();
    return Value::string(a + b);
  }
  unsupported(op, left, right);
}

Value power(const Value& left, const Value& right) {
  const double a = left.as_number(), b = right.as_number();
  if (a == 0 && b < 0) throw TemplateError("0 cannot be raised to a negative power");
  const double result = std::pow(a, b);
  if (!std::isfinite(result)) throw TemplateError("** gives a result that is not a finite real number");
  const bool floating = left.is(Kind::kFloat) || right.is(Kind::kFloat) || b < 0;
  return floating ? Value::floating(result) : Value::integer(static_cast<int64_t>(result));
}

bool contains(const Value& container, const Value& item, const std::string& op, const Value& left) {
  if (container.is(Kind::kArray)) {
    for (const Value& candidate : container.as_array()) {
      if (strict_equal(candidate, item)) return true;
    }
    return false;
  }
  if (container.is(Kind::kString) && item.is(Kind::kString)) {
    return container.as_string().find(item.as_string()) != std::string::npos;
  }
  if (container.is(Kind::kObject) && item.is(Kind::kString)) return container.as_object().find(item.as_string()) != nullptr;
  unsupported(op, left, container);
}

bool is_numeric_like(const Value& v) { return v.is_number() || v.is(Kind::kBool); }

}  // namespace

Value binary_operator(const std::string& op, const Value& left, const Value& right) {
  if (op == "==") return Value::boolean(loose_equal(left, right));
  if (op == "!=") return Value::boolean(!loose_equal(left, right));
  const bool membership = op == "in" || op == "not in";
  if (left.is_number() && right.is_number() && op != "~" && op != "**" && !membership) return numeric(op, left, right);
  if (left.is(Kind::kUndefined) || right.is(Kind::kUndefined)) {
    if (right.is(Kind::kUndefined) && membership) return Value::boolean(op == "not in");
    return concatenate_with_undefined(op, left, right);
  }
  if (left.is(Kind::kNull) || right.is(Kind::kNull)) unsupported(op, left, right);
  if (op == "~") return Value::string(left.to_concat_string() + right.to_concat_string());
  if (op == "**" && is_numeric_like(left) && is_numeric_like(right)) return power(left, right);
  if (op == "+" && left.is(Kind::kArray) && right.is(Kind::kArray)) {
    Array joined = left.as_array();
    joined.insert(joined.end(), right.as_array().begin(), right.as_array().end());
    return Value::array(std::move(joined));
  }
  if (membership) return Value::boolean(contains(right, left, op, left) == (op == "in"));
  if (op == "+" && (left.is(Kind::kString) || right.is(Kind::kString))) {
    return Value::string(left.to_concat_string() + right.to_concat_string());
  }
  unsupported(op, left, right);
}

Value index_value(const Value& object, const Value& property) {
  if (object.is(Kind::kObject) || object.is(Kind::kNamespace)) {
    if (!property.is(Kind::kString)) throw TemplateError(std::string("a mapping cannot be indexed by a ") + property.kind_name());
    return member_of(object, property.as_string());
  }
  if (object.is(Kind::kArray) || object.is(Kind::kString)) {
    if (property.is(Kind::kString)) return member_of(object, property.as_string());
    if (!property.is(Kind::kInt)) throw TemplateError(std::string("cannot index by a ") + property.kind_name());
    const bool is_string = object.is(Kind::kString);
    const std::vector<std::string> points = is_string ? code_points(object.as_string()) : std::vector<std::string>{};
    const auto size = static_cast<int64_t>(is_string ? points.size() : object.as_array().size());
    int64_t i = property.as_int();
    if (i < 0) i += size;
    if (i < 0 || i >= size) return Value();
    return is_string ? Value::string(points[static_cast<std::size_t>(i)]) : object.as_array()[static_cast<std::size_t>(i)];
  }
  if (!property.is(Kind::kString)) throw TemplateError(std::string("cannot index a ") + object.kind_name());
  return member_of(object, property.as_string());
}

namespace {

// Python's slice bounds for a sequence of `size` items.
std::vector<std::size_t> slice_indices(int64_t size, const Value& start, const Value& stop, const Value& step) {
  for (const Value* v : {&start, &stop, &step}) {
    if (!v->is(Kind::kInt) && !v->is(Kind::kUndefined)) throw TemplateError("slice bounds must be integers");
  }
  const int64_t by = step.is(Kind::kInt) ? step.as_int() : 1;
  if (by == 0) throw TemplateError("slice step cannot be zero");
  int64_t from, to;
  if (by > 0) {
    from = start.is(Kind::kInt) ? start.as_int() : 0;
    to = stop.is(Kind::kInt) ? stop.as_int() : size;
    from = from < 0 ? std::max<int64_t>(size + from, 0) : std::min(from, size);
    to = to < 0 ? std::max<int64_t>(size + to, 0) : std::min(to, size);
  } else {
    from = start.is(Kind::kInt) ? start.as_int() : size - 1;
    to = stop.is(Kind::kInt) ? stop.as_int() : -1;
    from = from < 0 ? std::max<int64_t>(size + from, -1) : std::min(from, size - 1);
    to = to < -1 ? std::max<int64_t>(size + to, -1) : std::min(to, size - 1);
  }
  std::vector<std::size_t> indices;
  for (int64_t i = from; by > 0 ? i < to : i > to; i += by) indices.push_back(static_cast<std::size_t>(i));
  return indices;
}

}  // namespace

Value slice_value(const Value& object, const Value& start, const Value& stop, const Value& step) {
  if (object.is(Kind::kArray)) {
    const Array& items = object.as_array();
    Array out;
    for (const std::size_t i : slice_indices(static_cast<int64_t>(items.size()), start, stop, step)) out.push_back(items[i]);
    return Value::array(std::move(out));
  }
  if (object.is(Kind::kString)) {
    const auto points = code_points(object.as_string());
    std::string out;
    for (const std::size_t i : slice_indices(static_cast<int64_t>(points.size()), start, stop, step)) out += points[i];
    return Value::string(out);
  }
  throw TemplateError(std::string("a ") + object.kind_name() + " cannot be sliced");
}

}  // namespace lorafarm::jinja
