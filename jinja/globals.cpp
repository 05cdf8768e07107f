// Global names every template sees: constants, namespace(), range(),
// raise_exception().
#include "jinja/builtins.h"
#include "jinja/template_error.h"

namespace lorafarm::jinja {
namespace {

using Kind = Value::Kind;

// namespace(mapping?, key=value...): a mutable bag of attributes.
Value make_namespace(const CallArgs& args) {
  if (args.positional.size() > 1) throw TemplateError("namespace() takes at most one positional argument");
  Object entries;
  if (!args.positional.empty()) {
    if (!args.positional[0].is(Kind::kObject)) throw TemplateError("namespace() takes a mapping");
    entries = args.positional[0].as_object();
  }
  for (const auto& [key, value] : args.keyword) entries.set(key, value);
  return Value::name_space(std::move(entries));
}

// Python's range(stop) / range(start, stop[, step]).
Value range(const CallArgs& args) {
  for (const Value& v : args.positional) {
    if (!v.is(Kind::kInt)) throw TemplateError("range() needs integer arguments");
  }
  const auto& p = args.positional;
  if (p.empty() || p.size() > 3) throw TemplateError("range() takes one to three arguments");
  const int64_t start = p.size() == 1 ? 0 : p[0].as_int();
  const int64_t stop = p.size() == 1 ? p[0].as_int() : p[1].as_int();
  const int64_t step = p.size() == 3 ? p[2].as_int() : 1;
  if (step == 0) throw TemplateError("range() step must not be zero");
  Array items;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
    if (items.size() >= 100'000) throw TemplateError("range() longer than 100000 items is not supported");
    items.push_back(Value::integer(i));
  }
  return Value::array(std::move(items));
}

}  // namespace

void install_globals(Scope& scope) {
  for (const char* name : {"true", "True"}) scope.set(name, Value::boolean(true));
  for (const char* name : {"false", "False"}) scope.set(name, Value::boolean(false));
  for (const char* name : {"none", "None"}) scope.set(name, Value::null());
  scope.set("namespace", Value::function(make_namespace));
  scope.set("range", Value::function(range));
  scope.set("raise_exception", Value::function([](const CallArgs& args) -> Value {
    const std::string message = args.positional.empty() ? "" : args.positional[0].to_concat_string();
    throw RaisedByTemplate(message);
  }));
  scope.set("strftime_now", Value::function([](const CallArgs&) -> Value {
    throw TemplateError("strftime_now() is not supported (it makes the rendering depend on the clock)");
  }));
}

}  // namespace lorafarm::jinja
