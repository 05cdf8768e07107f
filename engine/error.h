// Errors a user can cause (a bad file, a wrong shape, an unknown option).
// They carry one message that says what is wrong and where, and the CLI
// prints it as one line and exits non-zero.
#pragma once

#include <stdexcept>
#include <string>

namespace lorafarm::engine {

class InvalidInput : public std::runtime_error {
 public:
  explicit InvalidInput(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace lorafarm::engine
