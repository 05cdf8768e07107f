// Errors of a chat template: a syntax error, a construct this renderer does
// not support, a runtime type error, or the template's own raise_exception.
// Each names the template line when it is known.
#pragma once

#include <stdexcept>
#include <string>

namespace lorafarm::jinja {

class TemplateError : public std::runtime_error {
 public:
  explicit TemplateError(const std::string& message, int line = 0)
      : std::runtime_error(line > 0 ? message + " (template line " + std::to_string(line) + ")" : message),
        message_(message),
        line_(line) {}
  int line() const { return line_; }
  const std::string& message() const { return message_; }

 private:
  std::string message_;
  int line_;
};

// `raise_exception(msg)` called by the template (e.g. "roles must alternate").
class RaisedByTemplate : public TemplateError {
 public:
  explicit RaisedByTemplate(const std::string& message, int line = 0) : TemplateError(message, line) {}
};

}  // namespace lorafarm::jinja
