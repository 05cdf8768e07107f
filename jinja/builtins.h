// The filters, tests, methods and global functions templates can use, with
// the reference renderer's behaviour. Anything not listed here is a
// TemplateError that names it.
#pragma once

#include <string>

#include "jinja/scope.h"
#include "jinja/value.h"

namespace lorafarm::jinja {

// `operand | name(args)`: trim, tojson, length, count, string, upper, lower,
// capitalize, title, first, last, reverse, join, list, items, int, float,
// abs, safe, default, replace.
Value apply_filter(const std::string& name, const Value& operand, const CallArgs& args);

// `operand is name`: defined, undefined, none, string, number, integer,
// boolean, true, false, iterable, mapping, sequence, odd, even, callable.
bool apply_test(const std::string& name, const Value& operand);

// `object.name`: a mapping's entry (or its get/items/keys/values methods), a
// namespace's attribute, a string's methods (strip, lstrip, rstrip,
// startswith, endswith, split, replace, upper, lower, title, capitalize) and
// length, an array's length. Anything else is undefined, as in the reference.
Value member_of(const Value& object, const std::string& name);

// true/false/none (and True/False/None), namespace(), range(),
// raise_exception(); strftime_now() is refused by name.
void install_globals(Scope& scope);

}  // namespace lorafarm::jinja
