// Which part of a rendered conversation the assistant says, found from
// renders of the conversation's prefixes (docs/chat-templates.md, "Masking"),
// and which tokens that is.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "engine/chat_format.h"
#include "engine/tokenizer.h"

namespace lorafarm::engine {

// [begin, end) byte ranges of a text.
using TextSpans = std::vector<std::pair<std::size_t, std::size_t>>;

struct RenderedChat {
  std::string text;          // the whole conversation, add_generation_prompt false
  TextSpans assistant_spans;  // one per assistant message, in order
};

// For each assistant message i, its span starts where the render of
// messages[0, i) with the generation prompt ends (that render must be a
// prefix of the whole text) and ends after the text that closes the turn:
// what follows its content both in the whole text and in the render of
// messages[0, i]. Content positions are found by rendering again with a
// marker appended to the message's content. A conversation the template
// does not render incrementally is an InvalidInput saying so.
RenderedChat render_with_assistant_spans(const ChatFormat& format, const nlohmann::ordered_json& messages);

// Per token of `tokens` (= encode_chat_text(text)): 1 when it lies in one of
// `spans`. A token that straddles a span boundary counts with the text after
// the boundary.
std::vector<uint8_t> span_token_mask(const Tokenizer& tokenizer, const ChatFormat& format, const std::string& text,
                                     const std::vector<TokenId>& tokens, const TextSpans& spans);

}  // namespace lorafarm::engine
