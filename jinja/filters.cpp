// Filters (`x | trim`) and tests (`x is defined`) as the reference renderer
// applies them.
#include <cmath>
#include <cstdlib>
#include <functional>
#include <map>

#include "jinja/builtins.h"
#include "jinja/template_error.h"
#include "jinja/text.h"

namespace lorafarm::jinja {
namespace {

using Kind = Value::Kind;

[[noreturn]] void cannot(const std::string& filter, const Value& operand) {
  throw TemplateError("the filter '" + filter + "' cannot be applied to a " + operand.kind_name());
}

const Value* argument(const CallArgs& args, std::size_t position, const char* keyword) {
  if (position < args.positional.size()) return &args.positional[position];
  return args.keyword_arg(keyword);
}

Value tojson_filter(const Value& operand, const CallArgs& args) {
  for (const auto& [key, value] : args.keyword) {
    if (key != "indent") throw TemplateError("tojson(" + key + "=...) is not supported");
  }
  const Value* indent = args.keyword_arg("indent");
  if (indent != nullptr && !indent->is(Kind::kInt) && !indent->is(Kind::kNull)) {
    throw TemplateError("tojson's indent must be an integer");
  }
  const int spaces = indent != nullptr && indent->is(Kind::kInt) ? static_cast<int>(indent->as_int()) : 0;
  return Value::string(operand.to_json(spaces, true));
}

Value length_filter(const Value& operand) {
  if (operand.is(Kind::kString)) return Value::integer(static_cast<int64_t>(utf16_length(operand.as_string())));
  if (operand.is(Kind::kArray)) return Value::integer(static_cast<int64_t>(operand.as_array().size()));
  if (operand.is(Kind::kObject)) return Value::integer(static_cast<int64_t>(operand.as_object().entries.size()));
  cannot("length", operand);
}

Value string_filter(const Value& operand) {
  switch (operand.kind()) {
    case Kind::kString:
      return operand;
    case Kind::kArray:
      return Value::string(operand.to_json(0, false));
    case Kind::kInt:
    case Kind::kFloat:
    case Kind::kBool:
      return Value::string(operand.to_output());
    default:
      cannot("string", operand);
  }
}

Value join_filter(const Value& operand, const CallArgs& args) {
  const Value* separator = argument(args, 0, "separator");
  if (separator != nullptr && !separator->is(Kind::kString)) throw TemplateError("join's separator must be a string");
  const std::string glue = separator != nullptr ? separator->as_string() : "";
  std::vector<std::string> parts;
  if (operand.is(Kind::kString)) {
    parts = code_points(operand.as_string());
  } else if (operand.is(Kind::kArray)) {
    for (const Value& item : operand.as_array()) parts.push_back(item.is_nullish() ? "" : item.to_concat_string());
  } else {
    cannot("join", operand);
  }
  std::string joined;
  for (std::size_t i = 0; i < parts.size(); ++i) joined += (i > 0 ? glue : "") + parts[i];
  return Value::string(joined);
}

// int/float: strings parse as JavaScript's parseInt/parseFloat do (a numeric
// prefix), anything unparsable gives the default.
Value number_filter(const std::string& name, const Value& operand, const CallArgs& args) {
  const bool to_int = name == "int";
  const Value* fallback = argument(args, 0, "default");
  const Value otherwise = fallback != nullptr ? *fallback : to_int ? Value::integer(0) : Value::floating(0);
  if (operand.is(Kind::kString)) {
    const std::string text = trim_start(operand.as_string());
    char* end = nullptr;
    if (to_int) {
      const long long value = std::strtoll(text.c_str(), &end, 10);
      return end == text.c_str() ? otherwise : Value::integer(value);
    }
    const double value = std::strtod(text.c_str(), &end);
    return end == text.c_str() ? otherwise : Value::floating(value);
  }
  if (operand.is_number() || operand.is(Kind::kBool)) {
    const double value = operand.as_number();
    return to_int ? Value::integer(static_cast<int64_t>(std::trunc(value))) : Value::floating(value);
  }
  cannot(name, operand);
}

Value array_filter(const std::string& name, const Value& operand) {
  const Array& items = operand.as_array();
  if (name == "list") return operand;
  if (name == "first") return items.empty() ? Value() : items.front();
  if (name == "last") return items.empty() ? Value() : items.back();
  if (name == "reverse") return Value::array(Array(items.rbegin(), items.rend()));
  cannot(name, operand);
}

Value items_filter(const Value& operand) {
  if (!operand.is(Kind::kObject)) cannot("items", operand);
  Array pairs;
  for (const auto& [key, value] : operand.as_object().entries) pairs.push_back(Value::array({Value::string(key), value}));
  return Value::array(std::move(pairs));
}

Value default_filter(const Value& operand, const CallArgs& args) {
  const Value* fallback = argument(args, 0, "default_value");
  const Value* boolean = argument(args, 1, "boolean");
  const bool use_for_falsy = boolean != nullptr && boolean->truthy();
  if (operand.is(Kind::kUndefined) || (use_for_falsy && !operand.truthy())) {
    return fallback != nullptr ? *fallback : Value::string("");
  }
  return operand;
}

Value abs_filter(const Value& operand) {
  if (operand.is(Kind::kInt)) return Value::integer(std::llabs(operand.as_int()));
  if (operand.is(Kind::kFloat)) return Value::floating(std::fabs(operand.as_number()));
  cannot("abs", operand);
}

// Filters that are also string methods (upper, lower, title, capitalize, replace).
Value string_method_filter(const std::string& name, const Value& operand, const CallArgs& args) {
  if (!operand.is(Kind::kString)) cannot(name, operand);
  return member_of(operand, name).as_function()(args);
}

}  // namespace

Value apply_filter(const std::string& name, const Value& operand, const CallArgs& args) {
  if (name == "safe") return operand;
  if (name == "tojson") return tojson_filter(operand, args);
  if (name == "default" || name == "d") return default_filter(operand, args);
  if (name == "length" || name == "count") return length_filter(operand);
  if (name == "string") return string_filter(operand);
  if (name == "join") return join_filter(operand, args);
  if (name == "int" || name == "float") return number_filter(name, operand, args);
  if (name == "items") return items_filter(operand);
  if (name == "abs") return abs_filter(operand);
  if (name == "trim") {
    if (!operand.is(Kind::kString)) cannot(name, operand);
    return Value::string(trim(operand.as_string()));
  }
  if (name == "list" || name == "first" || name == "last" || name == "reverse") {
    if (!operand.is(Kind::kArray)) cannot(name, operand);
    return array_filter(name, operand);
  }
  if (name == "upper" || name == "lower" || name == "title" || name == "capitalize" || name == "replace") {
    return string_method_filter(name, operand, args);
  }
  throw TemplateError("the filter '" + name + "' is not supported");
}

bool apply_test(const std::string& name, const Value& operand) {
  static const std::map<std::string, std::function<bool(const Value&)>> kTests = {
      {"defined", [](const Value& v) { return !v.is(Kind::kUndefined); }},
      {"undefined", [](const Value& v) { return v.is(Kind::kUndefined); }},
      {"none", [](const Value& v) { return v.is(Kind::kNull); }},
      {"string", [](const Value& v) { return v.is(Kind::kString); }},
      {"number", [](const Value& v) { return v.is_number(); }},
      {"integer", [](const Value& v) { return v.is(Kind::kInt); }},
      {"boolean", [](const Value& v) { return v.is(Kind::kBool); }},
      {"true", [](const Value& v) { return v.is(Kind::kBool) && v.as_bool(); }},
      {"false", [](const Value& v) { return v.is(Kind::kBool) && !v.as_bool(); }},
      {"iterable", [](const Value& v) { return v.is(Kind::kArray) || v.is(Kind::kString); }},
      {"mapping", [](const Value& v) { return v.is(Kind::kObject); }},
      {"sequence", [](const Value& v) { return v.is(Kind::kArray) || v.is(Kind::kObject) || v.is(Kind::kString); }},
      {"callable", [](const Value& v) { return v.is(Kind::kFunction); }},
  };
  if (name == "odd" || name == "even") {
    if (!operand.is(Kind::kInt)) throw TemplateError("the test '" + name + "' needs an integer");
    return (operand.as_int() % 2 != 0) == (name == "odd");
  }
  const auto it = kTests.find(name);
  if (it == kTests.end()) throw TemplateError("the test '" + name + "' is not supported");
  return it->second(operand);
}

}  // namespace lorafarm::jinja
