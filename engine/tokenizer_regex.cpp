// PCRE2 behind TokenizerRegex: UTF mode (invalid UTF-8 tolerated), Unicode
// case folding for (?i), multi-line anchors as in Oniguruma's Ruby syntax,
// JIT-compiled where available.
#include "engine/tokenizer_regex.h"

#include "engine/error.h"
#include "engine/onig_translation.h"
#include "regex/pcre2_code.h"

namespace lorafarm::engine {

struct TokenizerRegex::Code : regex::Pcre2Code {
  using Pcre2Code::Pcre2Code;
};

namespace {

// Per-thread match state: match data for the whole-match offsets and a JIT
// stack larger than the 32 KiB default, so long inputs do not overflow it.
struct MatchState {
  pcre2_match_data* data = pcre2_match_data_create(1, nullptr);
  pcre2_jit_stack* stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
  pcre2_match_context* context = pcre2_match_context_create(nullptr);
  MatchState() { pcre2_jit_stack_assign(context, nullptr, stack); }
  ~MatchState() {
    pcre2_match_context_free(context);
    pcre2_jit_stack_free(stack);
    pcre2_match_data_free(data);
  }
  MatchState(const MatchState&) = delete;
  MatchState& operator=(const MatchState&) = delete;
};

MatchState& match_state() {
  thread_local MatchState state;
  return state;
}

}  // namespace

TokenizerRegex::TokenizerRegex(std::string_view pattern) : pattern_(pattern) {
  const std::string translated = onig_to_pcre2(pattern);
  try {
    code_ = std::make_shared<const Code>(translated,
                                         PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE | PCRE2_MATCH_INVALID_UTF);
  } catch (const regex::Pcre2CompileError& e) {
    throw InvalidInput("regex \"" + pattern_ + "\": " + e.what() + " (at offset " + std::to_string(e.offset()) +
                       " of its PCRE2 translation)");
  }
}

std::vector<ByteSpan> TokenizerRegex::find_all(std::string_view text) const {
  std::vector<ByteSpan> matches;
  MatchState& state = match_state();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  std::size_t start = 0;
  while (start <= text.size()) {
    const int rc = pcre2_match(code_->get(), subject, text.size(), start, 0, state.data, state.context);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) throw InvalidInput("regex \"" + pattern_ + "\": matching failed: " + regex::pcre2_error_message(rc));
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(state.data);
    const ByteSpan span{ovector[0], ovector[1]};
    if (span.end > span.begin) {
      matches.push_back(span);
      start = span.end;
      continue;
    }
    // An empty match: the search resumes one character later.
    start = span.end + 1;
    while (start < text.size() && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) ++start;
  }
  return matches;
}

}  // namespace lorafarm::engine
