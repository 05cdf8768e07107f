// The default chat format and the model's own Jinja chat template.
#include "engine/chat_format.h"

#include <fstream>
#include <sstream>

#include "engine/error.h"
#include "engine/json_file.h"
#include "jinja/template.h"

namespace lorafarm::engine {
namespace {

std::string role_header(const std::string& role) {
  if (role == "system") return "### System:\n";
  if (role == "user") return "### User:\n";
  if (role == "assistant") return "### Assistant:\n";
  return "### " + role + ":\n";
}

class DefaultChatFormat : public ChatFormat {
 public:
  std::string render(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                     const nlohmann::ordered_json&) const override {
    std::string out;
    for (const auto& message : messages) {
      const auto role = message.find("role");
      const auto content = message.find("content");
      if (role == message.end() || !role->is_string() || content == message.end() || !content->is_string()) {
        throw InvalidInput("each message needs a string 'role' and a string 'content'");
      }
      out += role_header(role->get<std::string>()) + content->get<std::string>() + "\n\n";
    }
    if (add_generation_prompt) out += role_header("assistant");
    return out;
  }
  bool is_model_template() const override { return false; }
};

// The variables transformers' apply_chat_template passes: messages,
// add_generation_prompt, tools and documents (none here), the special tokens
// the tokenizer config names, then the caller's extra variables.
class ModelChatFormat : public ChatFormat {
 public:
  ModelChatFormat(const std::string& source, jinja::Object special_tokens, std::vector<std::string> added,
                  const std::string& where)
      : template_(parse(source, where)), special_tokens_(std::move(special_tokens)), added_specials_(std::move(added)) {}

  std::string render(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                     const nlohmann::ordered_json& extra) const override {
    jinja::Object variables;
    variables.set("messages", jinja::Value::from_json(messages));
    variables.set("add_generation_prompt", jinja::Value::boolean(add_generation_prompt));
    variables.set("tools", jinja::Value::null());
    variables.set("documents", jinja::Value::null());
    for (const auto& [name, value] : special_tokens_.entries) variables.set(name, value);
    for (const auto& [name, value] : extra.items()) variables.set(name, jinja::Value::from_json(value));
    try {
      return template_.render(variables);
    } catch (const jinja::RaisedByTemplate& e) {
      throw InvalidInput("the chat template refused the messages: " + std::string(e.what()));
    } catch (const jinja::TemplateError& e) {
      throw InvalidInput("chat template: " + std::string(e.what()));
    }
  }
  bool is_model_template() const override { return true; }
  std::vector<std::string> special_tokens() const override {
    std::vector<std::string> texts = added_specials_;
    for (const auto& [name, value] : special_tokens_.entries) texts.push_back(value.as_string());
    return texts;
  }

 private:
  static jinja::Template parse(const std::string& source, const std::string& where) {
    try {
      return jinja::Template(source);
    } catch (const jinja::TemplateError& e) {
      throw InvalidInput(where + ": chat template: " + e.what());
    }
  }

  jinja::Template template_;
  jinja::Object special_tokens_;
  std::vector<std::string> added_specials_;
};

// additional_special_tokens and the added tokens marked special.
std::vector<std::string> added_special_tokens(const nlohmann::json& config) {
  std::vector<std::string> texts;
  auto add = [&](const nlohmann::json& token) {
    if (token.is_string()) texts.push_back(token.get<std::string>());
    if (token.is_object() && token.contains("content") && token["content"].is_string()) {
      texts.push_back(token["content"].get<std::string>());
    }
  };
  if (const auto it = config.find("additional_special_tokens"); it != config.end() && it->is_array()) {
    for (const auto& token : *it) add(token);
  }
  if (const auto it = config.find("added_tokens_decoder"); it != config.end() && it->is_object()) {
    for (const auto& [id, token] : it->items()) {
      if (token.is_object() && token.value("special", false)) add(token);
    }
  }
  return texts;
}

// bos_token, eos_token... as strings: a plain string or an AddedToken object's content.
jinja::Object special_tokens(const nlohmann::json& config) {
  jinja::Object tokens;
  for (const char* key : {"bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"}) {
    const auto it = config.find(key);
    if (it == config.end()) continue;
    std::string text;
    if (it->is_string()) text = it->get<std::string>();
    if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) text = (*it)["content"].get<std::string>();
    if (!text.empty()) tokens.set(key, jinja::Value::string(text));
  }
  return tokens;
}

// tokenizer_config.json's chat_template: a string, or a list of named templates of which "default" is used.
std::string config_template(const nlohmann::json& field, const std::string& where) {
  if (field.is_string()) return field.get<std::string>();
  if (!field.is_array()) throw InvalidInput(where + ": chat_template must be a string or a list of {name, template}");
  for (const auto& entry : field) {
    if (entry.is_object() && entry.value("name", "") == "default" && entry.contains("template") &&
        entry["template"].is_string()) {
      return entry["template"].get<std::string>();
    }
  }
  throw InvalidInput(where + ": chat_template lists named templates but none is called \"default\"");
}

}  // namespace

std::unique_ptr<ChatFormat> default_chat_format() { return std::make_unique<DefaultChatFormat>(); }

std::unique_ptr<ChatFormat> load_model_chat_format(const std::filesystem::path& model_folder) {
  const auto config_path = model_folder / "tokenizer_config.json";
  const nlohmann::json config = std::filesystem::exists(config_path) ? read_json_file(config_path) : nlohmann::json::object();
  const auto jinja_path = model_folder / "chat_template.jinja";
  if (std::filesystem::exists(jinja_path)) {
    std::ifstream in(jinja_path, std::ios::binary);
    if (!in) throw InvalidInput(jinja_path.string() + ": cannot open");
    std::ostringstream text;
    text << in.rdbuf();
    return std::make_unique<ModelChatFormat>(text.str(), special_tokens(config), added_special_tokens(config),
                                             jinja_path.string());
  }
  const auto field = config.find("chat_template");
  if (field == config.end() || field->is_null()) return nullptr;
  const std::string where = config_path.string();
  return std::make_unique<ModelChatFormat>(config_template(*field, where), special_tokens(config),
                                           added_special_tokens(config), where);
}

std::vector<TokenId> encode_chat_text(const Tokenizer& tokenizer, const ChatFormat& format, std::string_view text) {
  // The special tokens the tokenizer does not already turn into their id.
  std::vector<std::pair<std::string, TokenId>> cut;
  for (const std::string& special : format.special_tokens()) {
    const auto id = tokenizer.token_id(special);
    if (special.empty() || !id || tokenizer.encode(special) == std::vector<TokenId>{*id}) continue;
    cut.emplace_back(special, *id);
  }
  if (cut.empty()) return tokenizer.encode(text);
  std::vector<TokenId> ids;
  std::size_t start = 0;
  for (std::size_t at = 0; at < text.size();) {
    const std::pair<std::string, TokenId>* longest = nullptr;
    for (const auto& candidate : cut) {
      const bool here = text.compare(at, candidate.first.size(), candidate.first) == 0;
      if (here && (longest == nullptr || candidate.first.size() > longest->first.size())) longest = &candidate;
    }
    if (longest == nullptr) {
      ++at;
      continue;
    }
    const auto before = tokenizer.encode(text.substr(start, at - start));
    ids.insert(ids.end(), before.begin(), before.end());
    ids.push_back(longest->second);
    at += longest->first.size();
    start = at;
  }
  const auto rest = tokenizer.encode(text.substr(start));
  ids.insert(ids.end(), rest.begin(), rest.end());
  return ids;
}

std::shared_ptr<const ChatFormat> load_chat_format(const std::filesystem::path& model_folder) {
  std::shared_ptr<const ChatFormat> format = load_model_chat_format(model_folder);
  if (!format) format = default_chat_format();
  return format;
}

}  // namespace lorafarm::engine
