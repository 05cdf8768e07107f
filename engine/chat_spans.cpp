// Assistant spans from prefix renders, and their tokens.
#include "engine/chat_spans.h"

#include <string_view>

#include "engine/error.h"
#include "jinja/text.h"

namespace lorafarm::engine {
namespace {

// Added to the end of one message's content to see where the template
// writes it: control characters no template trims or rewrites.
const std::string kMarker = "\x01\x02\x03";

std::size_t common_prefix(std::string_view a, std::string_view b) {
  std::size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  return n;
}

nlohmann::ordered_json first_messages(const nlohmann::ordered_json& messages, std::size_t count) {
  nlohmann::ordered_json head = nlohmann::ordered_json::array();
  for (std::size_t i = 0; i < count; ++i) head.push_back(messages[i]);
  return head;
}

std::string message_name(std::size_t i) { return "message " + std::to_string(i + 1); }

// Where message i's content ends in `plain` (= format.render(messages, false)):
// the render with a marker after the content must be `plain` with the marker
// inserted at exactly one place.
std::size_t content_end(const ChatFormat& format, nlohmann::ordered_json messages, std::size_t i, const std::string& plain) {
  auto& content = messages[i]["content"];
  if (!content.is_string()) {
    throw InvalidInput(message_name(i) + ": an assistant message's content must be a string to find its tokens");
  }
  // Before trailing whitespace, so that a template that trims the content keeps the marker at its end.
  const std::string text = content.get<std::string>();
  const std::string kept = jinja::trim_end(text);
  content = kept + kMarker + text.substr(kept.size());
  const std::string marked = format.render(messages, false);
  const std::size_t at = common_prefix(plain, marked);
  const bool inserted_once = marked.size() == plain.size() + kMarker.size() &&
                             marked.compare(at, kMarker.size(), kMarker) == 0 &&
                             marked.compare(at + kMarker.size(), std::string::npos, plain, at) == 0;
  if (!inserted_once) {
    throw InvalidInput(message_name(i) +
                       ": the chat template does not write this assistant message's content once and unchanged, so "
                       "its tokens cannot be found (train without mask_prompt)");
  }
  return at;
}

}  // namespace

RenderedChat render_with_assistant_spans(const ChatFormat& format, const nlohmann::ordered_json& messages) {
  RenderedChat chat;
  chat.text = format.render(messages, false);
  for (std::size_t i = 0; i < messages.size(); ++i) {
    if (messages[i].value("role", "") != "assistant") continue;
    const std::string prompt = format.render(first_messages(messages, i), true);
    if (chat.text.compare(0, prompt.size(), prompt) != 0) {
      throw InvalidInput(message_name(i) +
                         ": the chat template renders the conversation before this assistant message (with the "
                         "generation prompt) differently from the whole conversation, so the assistant's tokens "
                         "cannot be told apart (train without mask_prompt)");
    }
    const std::size_t end_in_text = content_end(format, messages, i, chat.text);
    const auto turn = first_messages(messages, i + 1);
    const std::string turn_text = format.render(turn, false);
    const std::size_t end_in_turn = content_end(format, turn, i, turn_text);
    if (end_in_text < prompt.size()) {
      throw InvalidInput(message_name(i) + ": the assistant's content ends before its generation prompt");
    }
    // The closing text of the turn (e.g. "<|im_end|>\n"): what follows the content in both renders.
    const std::size_t closing = common_prefix(std::string_view(chat.text).substr(end_in_text),
                                              std::string_view(turn_text).substr(end_in_turn));
    chat.assistant_spans.emplace_back(prompt.size(), end_in_text + closing);
  }
  return chat;
}

std::vector<uint8_t> span_token_mask(const Tokenizer& tokenizer, const ChatFormat& format, const std::string& text,
                                     const std::vector<TokenId>& tokens, const TextSpans& spans) {
  // The tokens before byte b: those the text before b encodes to, as long as they agree with the whole text's.
  auto tokens_before = [&](std::size_t b) -> std::size_t {
    if (b == 0) return 0;
    if (b >= text.size()) return tokens.size();
    const std::vector<TokenId> prefix = encode_chat_text(tokenizer, format, std::string_view(text).substr(0, b));
    std::size_t k = 0;
    while (k < prefix.size() && k < tokens.size() && prefix[k] == tokens[k]) ++k;
    return k;
  };
  std::vector<uint8_t> mask(tokens.size(), 0);
  for (const auto& [begin, end] : spans) {
    const std::size_t to = tokens_before(end);
    for (std::size_t k = tokens_before(begin); k < to; ++k) mask[k] = 1;
  }
  return mask;
}

}  // namespace lorafarm::engine
