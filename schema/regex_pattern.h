// A compiled PCRE2 regular expression (Perl syntax, named groups) and its
// first match in one line of text: the metric collectors' patterns.
#pragma once

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace lorafarm::schema {

// A pattern PCRE2 does not accept; the message is PCRE2's, with the offset.
class RegexError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

class RegexPattern {
 public:
  // Index 0 is the whole match, then one entry per capturing group; a group
  // that took no part in the match is nullopt.
  using Captures = std::vector<std::optional<std::string_view>>;

  // Compiles `pattern` (UTF-8; invalid UTF-8 in the text never matches); throws RegexError.
  explicit RegexPattern(const std::string& pattern);

  const std::string& text() const { return text_; }
  // The name of each group by number ("" for an unnamed group; [0] is the whole match).
  const std::vector<std::string>& group_names() const { return names_; }
  // The group called `name`, or 0 when there is none.
  int group_number(std::string_view name) const;
  // The first match in `line`, or nullopt (also when PCRE2's match limit is hit).
  std::optional<Captures> match(std::string_view line) const;

 private:
  struct Code;
  std::string text_;
  std::shared_ptr<const Code> code_;  // immutable once compiled: copies share it
  std::vector<std::string> names_;
};

}  // namespace lorafarm::schema
