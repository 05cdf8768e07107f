// A compiled Jinja template, rendered the way Hugging Face chat templates
// are (transformers / @huggingface/jinja): trim_blocks and lstrip_blocks on,
// the reference renderer's value semantics. docs/chat-templates.md lists
// what is supported; anything else is a TemplateError naming it.
#pragma once

#include <string>

#include "jinja/ast.h"
#include "jinja/template_error.h"
#include "jinja/value.h"

namespace lorafarm::jinja {

class Template {
 public:
  // Parses `source`; a syntax error or an unsupported statement throws
  // TemplateError naming it and its line.
  explicit Template(const std::string& source);

  // The text for `variables` (a mapping: name -> value), with the globals
  // (namespace, range, raise_exception, true/false/none) available.
  std::string render(const Object& variables) const;

 private:
  NodeList program_;
};

}  // namespace lorafarm::jinja
