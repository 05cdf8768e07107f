// Template: lex, parse, and render with a fresh global scope per call.
#include "jinja/template.h"

#include "jinja/builtins.h"
#include "jinja/evaluator.h"
#include "jinja/lexer.h"
#include "jinja/parser.h"

namespace lorafarm::jinja {

Template::Template(const std::string& source) : program_(parse(tokenize(source))) {}

std::string Template::render(const Object& variables) const {
  Scope globals;
  install_globals(globals);
  for (const auto& [name, value] : variables.entries) globals.set(name, value);
  return render_program(program_, globals);
}

}  // namespace lorafarm::jinja
