// Hugging Face tokenizer.json with a BPE model, run as the tokenizers library
// runs it: added tokens cut out of the raw text, normalizer, added tokens
// cut out of the normalized text, pre-tokenizer, BPE per word; decoding
// through the decoder chain.
#include <algorithm>
#include <unordered_map>

#include "engine/added_tokens.h"
#include "engine/bpe_model.h"
#include "engine/error.h"
#include "engine/hf_decoder.h"
#include "engine/hf_normalizer.h"
#include "engine/hf_pre_tokenizer.h"
#include "engine/json_file.h"
#include "engine/tokenizer.h"

namespace lorafarm::engine {
namespace {

using nlohmann::json;

struct Pipeline {
  std::unique_ptr<HfNormalizer> normalizer;
  std::unique_ptr<HfPreTokenizer> pre_tokenizer;
  std::unique_ptr<HfDecoder> decoder;
};

class HfTokenizer final : public Tokenizer {
 public:
  HfTokenizer(std::unique_ptr<BpeModel> model, std::vector<AddedToken> added, Pipeline pipeline)
      : model_(std::move(model)), added_(std::move(added)), pipeline_(std::move(pipeline)) {
    std::vector<AddedTokenMatcher::Pattern> raw, normalized;
    for (const AddedToken& token : added_) {
      added_by_id_[token.id] = &token;
      id_limit_ = std::max(id_limit_, token.id + 1);
      if (!token.normalized) {
        raw.push_back({token.content, &token});
        continue;
      }
      // A normalized token is looked for in its normalized form.
      std::string form = token.content;
      if (pipeline_.normalizer) pipeline_.normalizer->normalize(form);
      normalized.push_back({form, &token});
    }
    raw_matcher_ = std::make_unique<AddedTokenMatcher>(std::move(raw));
    normalized_matcher_ = std::make_unique<AddedTokenMatcher>(std::move(normalized));
    id_limit_ = std::max(id_limit_, model_->id_limit());
  }

  std::vector<TokenId> encode(std::string_view text) const override {
    std::vector<TokenId> ids;
    for (const auto& segment : raw_matcher_->split(text)) {
      if (segment.id) {
        ids.push_back(*segment.id);
        continue;
      }
      std::string normalized(text.substr(segment.span.begin, segment.span.end - segment.span.begin));
      if (pipeline_.normalizer) pipeline_.normalizer->normalize(normalized);
      for (const auto& part : normalized_matcher_->split(normalized)) {
        if (part.id) {
          ids.push_back(*part.id);
          continue;
        }
        std::vector<PreToken> words{{normalized.substr(part.span.begin, part.span.end - part.span.begin),
                                     segment.span.begin == 0 && part.span.begin == 0}};
        if (pipeline_.pre_tokenizer) pipeline_.pre_tokenizer->split(words);
        for (const PreToken& word : words) model_->tokenize(word.text, ids);
      }
    }
    return ids;
  }

  std::string decode(std::span<const TokenId> ids) const override {
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (const TokenId id : ids) {
      if (const auto it = added_by_id_.find(id); it != added_by_id_.end()) {
        if (!it->second->special) tokens.push_back(it->second->content);
        continue;
      }
      tokens.push_back(model_piece(id));
    }
    if (!pipeline_.decoder) {  // the tokenizers library joins with spaces then
      std::string text;
      for (std::size_t i = 0; i < tokens.size(); ++i) text += (i ? " " : "") + tokens[i];
      return text;
    }
    pipeline_.decoder->decode(tokens);
    std::string text;
    for (const std::string& token : tokens) text += token;
    return text;
  }

  int vocab_size() const override { return id_limit_; }

  std::string piece(TokenId id) const override {
    if (const auto it = added_by_id_.find(id); it != added_by_id_.end()) return it->second->content;
    return model_piece(id);
  }

  std::optional<TokenId> token_id(std::string_view piece) const override {
    for (const AddedToken& token : added_) {
      if (token.content == piece) return token.id;
    }
    return model_->token_to_id(piece);
  }

 private:
  const std::string& model_piece(TokenId id) const {
    const std::string* piece = model_->id_to_token(id);
    if (!piece) {
      throw InvalidInput("token id " + std::to_string(id) + " is not in the vocabulary (size " +
                         std::to_string(id_limit_) + ")");
    }
    return *piece;
  }

  std::unique_ptr<BpeModel> model_;
  std::vector<AddedToken> added_;
  Pipeline pipeline_;
  std::unordered_map<TokenId, const AddedToken*> added_by_id_;
  std::unique_ptr<AddedTokenMatcher> raw_matcher_;
  std::unique_ptr<AddedTokenMatcher> normalized_matcher_;
  int id_limit_ = 0;
};

std::optional<std::string> optional_string(const json& object, std::string_view key, const std::string& where) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) throw InvalidInput(where + "." + std::string(key) + ": expected a string, got " + it->dump());
  return it->get<std::string>();
}

std::vector<std::pair<std::string, std::string>> parse_merges(const json& merges, const std::string& where) {
  if (!merges.is_array()) throw InvalidInput(where + ": expected an array");
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(merges.size());
  for (std::size_t i = 0; i < merges.size(); ++i) {
    const json& merge = merges[i];
    const std::string at = where + "[" + std::to_string(i) + "]";
    if (merge.is_string()) {  // "left right"
      const std::string text = merge.get<std::string>();
      const std::size_t space = text.find(' ');
      if (space == std::string::npos || text.find(' ', space + 1) != std::string::npos) {
        throw InvalidInput(at + ": expected two tokens separated by one space, got \"" + text + "\"");
      }
      out.emplace_back(text.substr(0, space), text.substr(space + 1));
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
      out.emplace_back(merge[0].get<std::string>(), merge[1].get<std::string>());
    } else {
      throw InvalidInput(at + ": expected \"a b\" or [\"a\", \"b\"], got " + merge.dump());
    }
  }
  return out;
}

std::unique_ptr<BpeModel> parse_model(const json& model, const std::string& where) {
  if (!model.is_object()) throw InvalidInput(where + ": expected a JSON object");
  std::string type = "BPE";  // the library infers BPE from a model without "type" that has merges
  if (model.contains("type")) {
    type = json_string(model, "type", where);
  } else if (!model.contains("merges")) {
    throw InvalidInput(where + ": missing field \"type\"");
  }
  if (type != "BPE") throw InvalidInput(where + ".type: unsupported model \"" + type + "\" (only BPE)");

  const json& vocab_json = json_field(model, "vocab", where);
  if (!vocab_json.is_object()) throw InvalidInput(where + ".vocab: expected an object of token: id");
  std::vector<std::pair<std::string, TokenId>> vocab;
  vocab.reserve(vocab_json.size());
  for (const auto& [token, id] : vocab_json.items()) {
    if (!id.is_number_integer()) throw InvalidInput(where + ".vocab[\"" + token + "\"]: expected an integer id");
    vocab.emplace_back(token, id.get<TokenId>());
  }
  const auto merges = parse_merges(json_field(model, "merges", where), where + ".merges");

  BpeOptions options;
  options.unk_token = optional_string(model, "unk_token", where);
  options.fuse_unk = json_bool(model, "fuse_unk", false, where);
  options.byte_fallback = json_bool(model, "byte_fallback", false, where);
  options.ignore_merges = json_bool(model, "ignore_merges", false, where);
  options.continuing_subword_prefix = optional_string(model, "continuing_subword_prefix", where).value_or("");
  options.end_of_word_suffix = optional_string(model, "end_of_word_suffix", where).value_or("");
  try {
    return std::make_unique<BpeModel>(vocab, merges, std::move(options));
  } catch (const InvalidInput& e) {
    // BpeModel names the field below `model`; put the file in front.
    throw InvalidInput(where.substr(0, where.size() - std::string_view("model").size()) + e.what());
  }
}

std::vector<AddedToken> parse_added_tokens(const json& list, const std::string& where) {
  std::vector<AddedToken> out;
  if (list.is_null()) return out;
  if (!list.is_array()) throw InvalidInput(where + ": expected an array");
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string at = where + "[" + std::to_string(i) + "]";
    AddedToken token;
    const long long id = json_int(list[i], "id", -1, at);
    if (id < 0) throw InvalidInput(at + ".id: missing or negative");
    token.id = static_cast<TokenId>(id);
    token.content = json_string(list[i], "content", at);
    token.single_word = json_bool(list[i], "single_word", false, at);
    token.lstrip = json_bool(list[i], "lstrip", false, at);
    token.rstrip = json_bool(list[i], "rstrip", false, at);
    token.normalized = json_bool(list[i], "normalized", true, at);
    token.special = json_bool(list[i], "special", false, at);
    out.push_back(std::move(token));
  }
  return out;
}

// The first special token of a TemplateProcessing "single" template, i.e.
// the BOS the fast tokenizer puts in front of every sequence.
std::optional<TokenId> template_prefix_id(const json& processor, const std::string& where) {
  if (!processor.is_object()) return std::nullopt;
  const std::string type = processor.value("type", "");
  if (type == "Sequence" && processor.contains("processors") && processor["processors"].is_array()) {
    for (const json& step : processor["processors"]) {
      if (auto id = template_prefix_id(step, where)) return id;
    }
    return std::nullopt;
  }
  if (type != "TemplateProcessing") return std::nullopt;
  const json& single = json_field(processor, "single", where);
  if (!single.is_array() || single.empty() || !single[0].is_object() || !single[0].contains("SpecialToken")) {
    return std::nullopt;
  }
  const std::string name = json_string(single[0]["SpecialToken"], "id", where + ".single[0].SpecialToken");
  const json& specials = json_field(processor, "special_tokens", where);
  const json& entry = json_field(specials, name, where + ".special_tokens");
  const json& ids = json_field(entry, "ids", where + ".special_tokens." + name);
  if (!ids.is_array() || ids.size() != 1 || !ids[0].is_number_integer()) {
    throw InvalidInput(where + ".special_tokens." + name + ".ids: expected one integer id");
  }
  return ids[0].get<TokenId>();
}

}  // namespace

std::unique_ptr<Tokenizer> load_hf_tokenizer(const std::filesystem::path& tokenizer_json) {
  const json spec = read_json_file(tokenizer_json);
  const std::string file = tokenizer_json.string();
  if (!spec.is_object()) throw InvalidInput(file + ": expected a JSON object");
  std::unique_ptr<BpeModel> model = parse_model(json_field(spec, "model", file), file + ": model");
  std::vector<AddedToken> added = parse_added_tokens(spec.value("added_tokens", json()), file + ": added_tokens");
  Pipeline pipeline;
  pipeline.normalizer = parse_hf_normalizer(spec.value("normalizer", json()), file + ": normalizer");
  pipeline.pre_tokenizer = parse_hf_pre_tokenizer(spec.value("pre_tokenizer", json()), file + ": pre_tokenizer");
  pipeline.decoder = parse_hf_decoder(spec.value("decoder", json()), file + ": decoder");
  const std::optional<TokenId> bos = template_prefix_id(spec.value("post_processor", json()), file + ": post_processor");

  auto tokenizer = std::make_unique<HfTokenizer>(std::move(model), std::move(added), std::move(pipeline));
  // Defaults from the file alone; load_tokenizer refines them with the
  // folder's tokenizer_config.json and config.json.
  tokenizer->set_special_tokens(bos, std::nullopt, bos.has_value());
  return tokenizer;
}

}  // namespace lorafarm::engine
