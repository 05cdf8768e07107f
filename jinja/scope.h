// Variable scopes: the globals and the caller's variables at the root, a
// child scope per for loop (as in Jinja, `set` inside a loop stays there).
#pragma once

#include <string>
#include <unordered_map>

#include "jinja/value.h"

namespace lorafarm::jinja {

class Scope {
 public:
  explicit Scope(const Scope* parent = nullptr) : parent_(parent) {}
  // The nearest definition, or undefined.
  Value lookup(const std::string& name) const {
    for (const Scope* s = this; s != nullptr; s = s->parent_) {
      const auto it = s->variables_.find(name);
      if (it != s->variables_.end()) return it->second;
    }
    return Value();
  }
  void set(const std::string& name, Value value) { variables_[name] = std::move(value); }

 private:
  const Scope* parent_;
  std::unordered_map<std::string, Value> variables_;
};

}  // namespace lorafarm::jinja
