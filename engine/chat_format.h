// Chat messages -> text: the model's own Jinja `chat_template` (from
// chat_template.jinja or tokenizer_config.json, rendered as transformers'
// apply_chat_template does), or lorafarm's default "### Role:" format for
// models without one (docs/chat-templates.md).
#pragma once

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "engine/tokenizer.h"

namespace lorafarm::engine {

class ChatFormat {
 public:
  virtual ~ChatFormat() = default;
  // `messages`: a JSON array of {"role", "content", ...}. `extra`: more
  // template variables (e.g. {"enable_thinking": false}, {"tools": [...]}).
  // A template error is an InvalidInput carrying the template's message.
  virtual std::string render(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                             const nlohmann::ordered_json& extra = nlohmann::ordered_json::object()) const = 0;
  // True for a model's template: its text carries its own special tokens, so
  // it is tokenized without an added BOS or EOS (as apply_chat_template does).
  virtual bool is_model_template() const = 0;
  // The special tokens the template may write as text (tokenizer_config.json's
  // bos_token, eos_token..., additional_special_tokens and special added tokens).
  virtual std::vector<std::string> special_tokens() const { return {}; }
};

// Ids of a rendered chat text: tokenizer.encode, except that each special
// token the format names and the tokenizer would spell with ordinary pieces
// (sentencepiece does so for control symbols such as <s> and <bos>) is cut
// out and becomes its id, as Hugging Face tokenizers treat special tokens.
std::vector<TokenId> encode_chat_text(const Tokenizer& tokenizer, const ChatFormat& format, std::string_view text);

// "### System:\n{content}\n\n" / "### User:\n…" / "### Assistant:\n…" per
// message; the generation prompt is "### Assistant:\n".
std::unique_ptr<ChatFormat> default_chat_format();

// The model folder's template (chat_template.jinja first, else
// tokenizer_config.json's `chat_template`), or nullptr when it has none. A
// template that does not parse, or a list of templates without "default",
// is an InvalidInput naming the file.
std::unique_ptr<ChatFormat> load_model_chat_format(const std::filesystem::path& model_folder);

// The model's template when it has one, else the default format.
std::shared_ptr<const ChatFormat> load_chat_format(const std::filesystem::path& model_folder);

}  // namespace lorafarm::engine
