// Binary operators, indexing and slicing with the reference renderer's
// semantics (JavaScript numbers, Python-style slices).
#pragma once

#include <string>

#include "jinja/value.h"

namespace lorafarm::jinja {

// `left op right` for == != < > <= >= + - * / // % ** ~ in, not in
// (`and`/`or` short-circuit in the evaluator).
Value binary_operator(const std::string& op, const Value& left, const Value& right);

// object[property] and object.property.
Value index_value(const Value& object, const Value& property);

// object[start:stop:step] of an array or a string (by code point); parts left
// out are undefined.
Value slice_value(const Value& object, const Value& start, const Value& stop, const Value& step);

}  // namespace lorafarm::jinja
