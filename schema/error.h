// The errors the schema layer raises: each message names the field or file, the
// offending value and what is allowed, so a user can act on it.
#pragma once

#include <stdexcept>

namespace lorafarm::schema {

// A mistake in a sweep spec (field path, value, what is allowed).
class SpecError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// A malformed, oversized or wrong-version wire message.
class ProtocolError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A database that cannot be opened, is newer than this build, or failed a statement.
class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace lorafarm::schema
