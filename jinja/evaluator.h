// Renders a parsed template: runs its statements and evaluates its
// expressions with the reference renderer's operator semantics.
#pragma once

#include <string>

#include "jinja/ast.h"
#include "jinja/scope.h"

namespace lorafarm::jinja {

// The text of `program` with the variables of `globals`. Errors are
// TemplateErrors naming the template line.
std::string render_program(const NodeList& program, Scope& globals);

}  // namespace lorafarm::jinja
