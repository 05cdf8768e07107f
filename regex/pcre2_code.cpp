// Compiling a PCRE2 pattern and naming PCRE2's errors (regex/pcre2_code.h).
#include "regex/pcre2_code.h"

namespace lorafarm::regex {

Pcre2Code::Pcre2Code(std::string_view pattern, std::uint32_t options) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options, &error, &offset, nullptr);
  if (!code) throw Pcre2CompileError(pcre2_error_message(error), offset);
  code_ = std::shared_ptr<pcre2_code>(code, pcre2_code_free);
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // the interpreter runs where there is no JIT
}

std::string pcre2_error_message(int code) {
  PCRE2_UCHAR message[256];
  pcre2_get_error_message(code, message, sizeof message);
  return reinterpret_cast<const char*>(message);
}

}  // namespace lorafarm::regex
