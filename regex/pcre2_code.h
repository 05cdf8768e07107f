// One PCRE2 pattern (8-bit code units), compiled once, JIT-compiled where
// PCRE2 has a JIT, and shared by copies: what the tokenizer's split regexes
// (engine/tokenizer_regex.h) and the metric collectors' patterns
// (schema/regex_pattern.h) are built on. PCRE2 is Debian's libpcre2-8;
// docs/tokenizers.md says why it was chosen.
#pragma once

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace lorafarm::regex {

// A pattern PCRE2 refuses: PCRE2's message, and where in the pattern.
class Pcre2CompileError : public std::invalid_argument {
 public:
  Pcre2CompileError(const std::string& message, std::size_t offset)
      : std::invalid_argument(message), offset_(offset) {}
  std::size_t offset() const { return offset_; }

 private:
  std::size_t offset_;
};

class Pcre2Code {
 public:
  // Compiles `pattern` with PCRE2 compile `options`; throws Pcre2CompileError.
  Pcre2Code(std::string_view pattern, std::uint32_t options);

  const pcre2_code* get() const { return code_.get(); }

 private:
  std::shared_ptr<pcre2_code> code_;  // immutable once compiled
};

// PCRE2's text for an error code (compile or match).
std::string pcre2_error_message(int code);

}  // namespace lorafarm::regex
