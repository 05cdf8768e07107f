// Template values: construction, truthiness, and conversion to text and JSON
// exactly as the reference renderer's runtime writes them.
#include "jinja/value.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "jinja/template_error.h"

namespace lorafarm::jinja {

const Value* Object::find(const std::string& key) const {
  for (const auto& [k, v] : entries) {
    if (k == key) return &v;
  }
  return nullptr;
}

void Object::set(const std::string& key, Value value) {
  for (auto& [k, v] : entries) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  entries.emplace_back(key, std::move(value));
}

const Value* CallArgs::keyword_arg(const std::string& name) const {
  for (const auto& [k, v] : keyword) {
    if (k == name) return &v;
  }
  return nullptr;
}

Value Value::null() {
  Value v;
  v.kind_ = Kind::kNull;
  return v;
}

Value Value::boolean(bool b) {
  Value v;
  v.kind_ = Kind::kBool;
  v.bool_ = b;
  return v;
}

Value Value::integer(int64_t i) {
  Value v;
  v.kind_ = Kind::kInt;
  v.int_ = i;
  return v;
}

Value Value::floating(double f) {
  Value v;
  v.kind_ = Kind::kFloat;
  v.float_ = f;
  return v;
}

Value Value::string(std::string s) {
  Value v;
  v.kind_ = Kind::kString;
  v.string_ = std::move(s);
  return v;
}

Value Value::array(Array items) {
  Value v;
  v.kind_ = Kind::kArray;
  v.array_ = std::make_shared<const Array>(std::move(items));
  return v;
}

Value Value::object(Object o) {
  Value v;
  v.kind_ = Kind::kObject;
  v.object_ = std::make_shared<Object>(std::move(o));
  return v;
}

Value Value::name_space(Object o) {
  Value v = object(std::move(o));
  v.kind_ = Kind::kNamespace;
  return v;
}

Value Value::function(Function f) {
  Value v;
  v.kind_ = Kind::kFunction;
  v.function_ = std::make_shared<const Function>(std::move(f));
  return v;
}

Value Value::from_json(const nlohmann::ordered_json& json) {
  switch (json.type()) {
    case nlohmann::ordered_json::value_t::null:
      return null();
    case nlohmann::ordered_json::value_t::boolean:
      return boolean(json.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer:
      return integer(json.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned:
      return integer(static_cast<int64_t>(json.get<uint64_t>()));
    case nlohmann::ordered_json::value_t::number_float: {
      // JavaScript has one number type: the reference calls 2.0 an integer.
      const double d = json.get<double>();
      if (std::trunc(d) == d && std::fabs(d) < 9.0e15) return integer(static_cast<int64_t>(d));
      return floating(d);
    }
    case nlohmann::ordered_json::value_t::string:
      return string(json.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      Array items;
      for (const auto& item : json) items.push_back(from_json(item));
      return array(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      Object o;
      for (const auto& [key, item] : json.items()) o.set(key, from_json(item));
      return object(std::move(o));
    }
    default:
      throw TemplateError("binary JSON values cannot be passed to a template");
  }
}

double Value::as_number() const {
  if (kind_ == Kind::kInt) return static_cast<double>(int_);
  if (kind_ == Kind::kBool) return bool_ ? 1.0 : 0.0;
  return float_;
}

bool Value::truthy() const {
  switch (kind_) {
    case Kind::kUndefined:
    case Kind::kNull:
      return false;
    case Kind::kBool:
      return bool_;
    case Kind::kInt:
      return int_ != 0;
    case Kind::kFloat:
      return float_ != 0 && !std::isnan(float_);
    case Kind::kString:
      return !string_.empty();
    case Kind::kArray:
      return !array_->empty();
    case Kind::kObject:
      return !object_->entries.empty();
    case Kind::kNamespace:
    case Kind::kFunction:
      return true;
  }
  return false;
}

std::string js_number(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  if (value == 0) return "0";
  char buffer[400];
  const double magnitude = std::fabs(value);
  const auto format = magnitude >= 1e-6 && magnitude < 1e21 ? std::chars_format::fixed : std::chars_format::scientific;
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value, format);
  std::string text(buffer, result.ptr);
  // C++ writes exponents with at least two digits ("e-07"); JavaScript does not.
  const auto e = text.find('e');
  if (e != std::string::npos) {
    std::size_t digits = e + 2;
    while (digits + 1 < text.size() && text[digits] == '0') text.erase(digits, 1);
  }
  return text;
}

namespace {

std::string float_output(double value) {
  if (value == 0 && std::signbit(value)) return "-0.0";
  if (std::isfinite(value) && std::trunc(value) == value && std::fabs(value) < 1e21) return js_number(value) + ".0";
  return js_number(value);
}

// JSON.stringify of a string: quotes, backslashes and control characters escaped.
void write_json_string(std::string& out, const std::string& text) {
  out += '"';
  for (const char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escape[8];
          std::snprintf(escape, sizeof escape, "\\u%04x", static_cast<unsigned>(c));
          out += escape;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

}  // namespace

std::string Value::to_output() const {
  switch (kind_) {
    case Kind::kUndefined:
    case Kind::kNull:
      return "";
    case Kind::kBool:
      return bool_ ? "true" : "false";
    case Kind::kInt:
      return std::to_string(int_);
    case Kind::kFloat:
      return float_output(float_);
    case Kind::kString:
      return string_;
    case Kind::kArray:
    case Kind::kObject:
    case Kind::kNamespace:
      return to_json(0, false);
    case Kind::kFunction:
      throw TemplateError("a function cannot be written into the output");
  }
  return "";
}

std::string Value::to_concat_string() const {
  switch (kind_) {
    case Kind::kBool:
      return bool_ ? "true" : "false";
    case Kind::kInt:
      return std::to_string(int_);
    case Kind::kFloat:
      return js_number(float_);
    case Kind::kString:
      return string_;
    case Kind::kArray: {  // JavaScript's Array.prototype.toString over the runtime's value objects
      std::string text;
      for (std::size_t i = 0; i < array_->size(); ++i) text += i == 0 ? "[object Object]" : ",[object Object]";
      return text;
    }
    case Kind::kObject:
    case Kind::kNamespace:
      return "[object Map]";
    default:
      throw TemplateError(std::string("cannot convert ") + kind_name() + " to a string");
  }
}

std::string Value::to_json(int indent, bool undefined_as_null) const {
  std::string out;
  write_json(out, indent, 0, undefined_as_null);
  return out;
}

void Value::write_json(std::string& out, int indent, int depth, bool undefined_as_null) const {
  const std::string item_separator = indent > 0 ? "," : ", ";
  std::string base_padding(static_cast<std::size_t>(indent * depth) + 1, ' ');
  base_padding[0] = '\n';
  const std::string child_padding = base_padding + std::string(static_cast<std::size_t>(indent), ' ');
  switch (kind_) {
    case Kind::kUndefined: out += undefined_as_null ? "null" : "undefined"; return;
    case Kind::kNull: out += "null"; return;
    case Kind::kBool: out += bool_ ? "true" : "false"; return;
    case Kind::kInt: out += std::to_string(int_); return;
    case Kind::kFloat: out += std::isfinite(float_) ? js_number(float_) : "null"; return;
    case Kind::kString: write_json_string(out, string_); return;
    case Kind::kArray: {
      out += '[';
      for (std::size_t i = 0; i < array_->size(); ++i) {
        if (i > 0) out += item_separator;
        if (indent > 0) out += child_padding;
        (*array_)[i].write_json(out, indent, depth + 1, undefined_as_null);
      }
      if (indent > 0 && !array_->empty()) out += base_padding;
      out += ']';
      return;
    }
    case Kind::kObject:
    case Kind::kNamespace: {
      out += '{';
      bool first = true;
      for (const auto& [key, item] : object_->entries) {
        if (!first) out += item_separator;
        first = false;
        if (indent > 0) out += child_padding;
        write_json_string(out, key);
        out += ": ";
        item.write_json(out, indent, depth + 1, undefined_as_null);
      }
      if (indent > 0 && !object_->entries.empty()) out += base_padding;
      out += '}';
      return;
    }
    case Kind::kFunction:
      throw TemplateError("a function cannot be converted to JSON");
  }
}

const char* Value::kind_name() const {
  switch (kind_) {
    case Kind::kUndefined: return "undefined";
    case Kind::kNull: return "none";
    case Kind::kBool: return "boolean";
    case Kind::kInt: return "integer";
    case Kind::kFloat: return "float";
    case Kind::kString: return "string";
    case Kind::kArray: return "array";
    case Kind::kObject: return "mapping";
    case Kind::kNamespace: return "namespace";
    case Kind::kFunction: return "function";
  }
  return "value";
}

namespace {

// JavaScript's ToNumber of a string: surrounding whitespace ignored, "" is 0.
double js_string_to_number(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\n\r\f\v");
  if (first == std::string::npos) return 0;
  const auto last = text.find_last_not_of(" \t\n\r\f\v");
  const std::string trimmed = text.substr(first, last - first + 1);
  char* end = nullptr;
  const double value = std::strtod(trimmed.c_str(), &end);
  return end == trimmed.c_str() + trimmed.size() ? value : std::nan("");
}

bool is_reference(const Value& v) {
  return v.is(Value::Kind::kArray) || v.is(Value::Kind::kObject) || v.is(Value::Kind::kNamespace) ||
         v.is(Value::Kind::kFunction);
}

}  // namespace

bool loose_equal(const Value& a, const Value& b) {
  using Kind = Value::Kind;
  if (a.is_nullish() || b.is_nullish()) return a.is_nullish() && b.is_nullish();
  if (is_reference(a) && is_reference(b)) {
    if (a.kind() != b.kind()) return false;
    if (a.is(Kind::kArray)) return &a.as_array() == &b.as_array();
    if (a.is(Kind::kFunction)) return &a.as_function() == &b.as_function();
    return &a.as_object() == &b.as_object();
  }
  if (is_reference(a)) return loose_equal(Value::string(a.to_concat_string()), b);
  if (is_reference(b)) return loose_equal(a, Value::string(b.to_concat_string()));
  if (a.is(Kind::kString) && b.is(Kind::kString)) return a.as_string() == b.as_string();
  const double x = a.is(Kind::kString) ? js_string_to_number(a.as_string()) : a.as_number();
  const double y = b.is(Kind::kString) ? js_string_to_number(b.as_string()) : b.as_number();
  return x == y;
}

}  // namespace lorafarm::jinja
