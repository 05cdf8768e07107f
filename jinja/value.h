// The values a chat template computes with, with the semantics of the
// reference renderer (@huggingface/jinja): JavaScript-style numbers and
// string conversion, Python-style truthiness, insertion-ordered mappings.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace lorafarm::jinja {

class Value;
using Array = std::vector<Value>;

// A mapping that keeps the order its keys were first set in.
struct Object {
  std::vector<std::pair<std::string, Value>> entries;
  const Value* find(const std::string& key) const;
  void set(const std::string& key, Value value);
};

// Arguments of a call: positional, then keyword (`f(a, indent=2)`).
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
  const Value* keyword_arg(const std::string& name) const;
};
using Function = std::function<Value(const CallArgs&)>;

class Value {
 public:
  enum class Kind { kUndefined, kNull, kBool, kInt, kFloat, kString, kArray, kObject, kNamespace, kFunction };

  Value() = default;  // undefined
  static Value null();
  static Value boolean(bool b);
  static Value integer(int64_t i);
  static Value floating(double f);
  static Value string(std::string s);
  static Value array(Array items);
  static Value object(Object o);
  static Value name_space(Object o);  // mutable through `set ns.x = ...`, shared by copies
  static Value function(Function f);
  // JSON data (messages, tools) as the reference converts JavaScript values:
  // integral numbers become integers, objects keep their key order.
  static Value from_json(const nlohmann::ordered_json& json);

  Kind kind() const { return kind_; }
  bool is(Kind k) const { return kind_ == k; }
  bool is_number() const { return kind_ == Kind::kInt || kind_ == Kind::kFloat; }
  bool is_nullish() const { return kind_ == Kind::kUndefined || kind_ == Kind::kNull; }
  bool as_bool() const { return bool_; }
  int64_t as_int() const { return int_; }
  double as_number() const;  // int, float or bool as a double
  const std::string& as_string() const { return string_; }
  const Array& as_array() const { return *array_; }
  const Object& as_object() const { return *object_; }  // object or namespace
  Object& namespace_entries() const { return *object_; }
  const Function& as_function() const { return *function_; }

  // Python truthiness as the reference defines it (empty containers are false).
  bool truthy() const;
  // The text `{{ value }}` writes (nothing for none/undefined).
  std::string to_output() const;
  // JavaScript's String(value), which `+` and `~` concatenate.
  std::string to_concat_string() const;
  // JSON text as the `tojson` filter writes it (", " and ": " separators;
  // indent > 0 pretty-prints). undefined_as_null: how undefined is written.
  std::string to_json(int indent = 0, bool undefined_as_null = true) const;
  // A name for error messages ("string", "array", ...).
  const char* kind_name() const;

 private:
  void write_json(std::string& out, int indent, int depth, bool undefined_as_null) const;

  Kind kind_ = Kind::kUndefined;
  bool bool_ = false;
  int64_t int_ = 0;
  double float_ = 0;
  std::string string_;
  std::shared_ptr<const Array> array_;
  std::shared_ptr<Object> object_;
  std::shared_ptr<const Function> function_;
};

// JavaScript's Number.prototype.toString for a double (shortest round trip,
// "1e+21" style exponents outside [1e-6, 1e21)).
std::string js_number(double value);

// JavaScript's loose `==` on the values the reference compares.
bool loose_equal(const Value& a, const Value& b);

}  // namespace lorafarm::jinja
