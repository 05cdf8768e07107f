// PCRE2 behind RegexPattern (schema/regex_pattern.h): compile once, match lines.
#include "schema/regex_pattern.h"

#include <cstdint>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

namespace lorafarm::schema {

struct RegexPattern::Code {
  pcre2_code* code = nullptr;
  explicit Code(pcre2_code* c) : code(c) {}
  ~Code() { pcre2_code_free(code); }
  Code(const Code&) = delete;
  Code& operator=(const Code&) = delete;
};

namespace {

std::vector<std::string> group_names_of(const pcre2_code* code) {
  std::uint32_t groups = 0, named = 0, entry_size = 0;
  PCRE2_SPTR table = nullptr;
  pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &groups);
  pcre2_pattern_info(code, PCRE2_INFO_NAMECOUNT, &named);
  pcre2_pattern_info(code, PCRE2_INFO_NAMEENTRYSIZE, &entry_size);
  pcre2_pattern_info(code, PCRE2_INFO_NAMETABLE, &table);
  std::vector<std::string> names(groups + 1);
  // Each entry: the group number in two bytes (big-endian), then the name, NUL-terminated.
  for (std::uint32_t i = 0; i < named; ++i) {
    const PCRE2_SPTR entry = table + static_cast<std::size_t>(i) * entry_size;
    const std::size_t number = (static_cast<std::size_t>(entry[0]) << 8) | entry[1];
    if (number < names.size()) names[number] = reinterpret_cast<const char*>(entry + 2);
  }
  return names;
}

}  // namespace

RegexPattern::RegexPattern(const std::string& pattern) : text_(pattern) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), PCRE2_UTF | PCRE2_MATCH_INVALID_UTF,
                                   &error, &offset, nullptr);
  if (!code) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof message);
    throw RegexError(std::string(reinterpret_cast<const char*>(message)) + " at offset " + std::to_string(offset));
  }
  code_ = std::make_shared<const Code>(code);
  // Faster matching where the JIT exists; the interpreter is used otherwise.
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  names_ = group_names_of(code);
}

int RegexPattern::group_number(std::string_view name) const {
  for (std::size_t i = 1; i < names_.size(); ++i)
    if (names_[i] == name) return static_cast<int>(i);
  return 0;
}

std::optional<RegexPattern::Captures> RegexPattern::match(std::string_view line) const {
  std::unique_ptr<pcre2_match_data, void (*)(pcre2_match_data*)> data(pcre2_match_data_create_from_pattern(code_->code, nullptr),
                                                                      [](pcre2_match_data* d) { pcre2_match_data_free(d); });
  if (!data) return std::nullopt;
  const int found = pcre2_match(code_->code, reinterpret_cast<PCRE2_SPTR>(line.data()), line.size(), 0, 0, data.get(), nullptr);
  if (found <= 0) return std::nullopt;
  const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data.get());
  Captures captures(names_.size());
  for (std::size_t i = 0; i < captures.size() && i < static_cast<std::size_t>(found); ++i) {
    if (ovector[2 * i] == PCRE2_UNSET) continue;
    captures[i] = line.substr(ovector[2 * i], ovector[2 * i + 1] - ovector[2 * i]);
  }
  return captures;
}

}  // namespace lorafarm::schema
