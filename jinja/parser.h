// Tokens -> syntax tree, with the operator precedence of @huggingface/jinja
// (lowest first): `a if c else b`, or, and, not, comparisons and `in`,
// + - ~, * / // %, **, `is` tests, `|` filters, unary signs, calls and
// member access.
#pragma once

#include <vector>

#include "jinja/ast.h"
#include "jinja/lexer.h"

namespace lorafarm::jinja {

// The template's statements. A syntax error, or a statement this renderer
// does not support (macro, call, filter blocks, include...), is a
// TemplateError naming the construct and its line.
NodeList parse(const std::vector<Token>& tokens);

}  // namespace lorafarm::jinja
