// PCRE2 behind RegexPattern (schema/regex_pattern.h): compile once, match lines.
#include "schema/regex_pattern.h"

#include <cstdint>

#include "regex/pcre2_code.h"

namespace lorafarm::schema {

struct RegexPattern::Code : regex::Pcre2Code {
  using Pcre2Code::Pcre2Code;
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
  try {
    code_ = std::make_shared<const Code>(pattern, PCRE2_UTF | PCRE2_MATCH_INVALID_UTF);
  } catch (const regex::Pcre2CompileError& e) {
    throw RegexError(std::string(e.what()) + " at offset " + std::to_string(e.offset()));
  }
  names_ = group_names_of(code_->get());
}

int RegexPattern::group_number(std::string_view name) const {
  for (std::size_t i = 1; i < names_.size(); ++i)
    if (names_[i] == name) return static_cast<int>(i);
  return 0;
}

std::optional<RegexPattern::Captures> RegexPattern::match(std::string_view line) const {
  std::unique_ptr<pcre2_match_data, void (*)(pcre2_match_data*)> data(pcre2_match_data_create_from_pattern(code_->get(), nullptr),
                                                                      [](pcre2_match_data* d) { pcre2_match_data_free(d); });
  if (!data) return std::nullopt;
  const int found = pcre2_match(code_->get(), reinterpret_cast<PCRE2_SPTR>(line.data()), line.size(), 0, 0, data.get(), nullptr);
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
