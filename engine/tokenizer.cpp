// The tokenizer of a model folder and its special tokens, resolved from the
// files transformers reads: tokenizer_config.json, special_tokens_map.json,
// generation_config.json and config.json.
#include "engine/tokenizer.h"

#include <array>

#include "engine/error.h"
#include "engine/json_file.h"

namespace lorafarm::engine {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// A model folder's optional JSON file: null when absent, else an object.
json read_optional_object(const fs::path& path) {
  if (!fs::exists(path)) return json();
  json value = read_json_file(path);
  if (!value.is_object()) throw InvalidInput(path.string() + ": expected a JSON object");
  return value;
}

// `bos_token` / `eos_token` as tokenizer_config.json and special_tokens_map.json
// write them: a string, an object with "content" (an AddedToken), or null.
std::optional<std::string> token_text(const json& file, const std::string& key, const fs::path& path) {
  if (!file.is_object() || !file.contains(key) || file[key].is_null()) return std::nullopt;
  const json& value = file[key];
  if (value.is_string()) {
    if (value.get<std::string>().empty()) return std::nullopt;
    return value.get<std::string>();
  }
  if (value.is_object() && value.contains("content") && value["content"].is_string()) {
    return value["content"].get<std::string>();
  }
  throw InvalidInput(path.string() + ": " + key + ": expected a string or {\"content\": ...}, got " + value.dump());
}

// `bos_token_id` / `eos_token_id` of config.json / generation_config.json:
// an integer, or a list of them (several stop tokens) of which the first counts.
std::optional<TokenId> token_number(const json& file, const std::string& key, const fs::path& path) {
  if (!file.is_object() || !file.contains(key) || file[key].is_null()) return std::nullopt;
  const json& value = file[key];
  if (value.is_number_integer()) return value.get<TokenId>();
  if (value.is_array() && !value.empty() && value[0].is_number_integer()) return value[0].get<TokenId>();
  if (value.is_array() && value.empty()) return std::nullopt;
  throw InvalidInput(path.string() + ": " + key + ": expected an integer or a list of integers, got " + value.dump());
}

struct FolderFiles {
  fs::path tokenizer_file;
  fs::path tokenizer_config_path, special_map_path, generation_path, config_path;
  json tokenizer_config, special_map, generation, config;
};

// The id of the `role` ("bos" or "eos") token: the first of the files that
// names it, in the order transformers gives them precedence; else the
// tokenizer file's own default.
std::optional<TokenId> resolve_special(const Tokenizer& tokenizer, const FolderFiles& files, const std::string& role,
                                       std::optional<TokenId> fallback) {
  const std::string name_key = role + "_token";
  const std::string id_key = role + "_token_id";
  auto by_name = [&](const json& file, const fs::path& path) -> std::optional<TokenId> {
    const auto text = token_text(file, name_key, path);
    if (!text) return std::nullopt;
    const auto id = tokenizer.token_id(*text);
    if (!id) {
      throw InvalidInput(path.string() + ": " + name_key + " \"" + *text + "\" is not a token of " +
                         files.tokenizer_file.string());
    }
    return id;
  };
  auto by_number = [&](const json& file, const fs::path& path) -> std::optional<TokenId> {
    const auto id = token_number(file, id_key, path);
    if (id && (*id < 0 || *id >= tokenizer.vocab_size())) {
      throw InvalidInput(path.string() + ": " + id_key + " " + std::to_string(*id) +
                         " is outside the vocabulary (size " + std::to_string(tokenizer.vocab_size()) + ")");
    }
    return id;
  };
  if (auto id = by_name(files.tokenizer_config, files.tokenizer_config_path)) return id;
  if (auto id = by_name(files.special_map, files.special_map_path)) return id;
  if (auto id = by_number(files.generation, files.generation_path)) return id;
  if (auto id = by_number(files.config, files.config_path)) return id;
  return fallback;
}

// transformers' Llama-family tokenizer classes add BOS unless told otherwise.
bool class_adds_bos(const json& tokenizer_config) {
  static constexpr std::array<std::string_view, 6> kClasses = {
      "LlamaTokenizer", "LlamaTokenizerFast", "CodeLlamaTokenizer", "CodeLlamaTokenizerFast",
      "GemmaTokenizer", "GemmaTokenizerFast"};
  if (!tokenizer_config.is_object()) return false;
  const auto it = tokenizer_config.find("tokenizer_class");
  if (it == tokenizer_config.end() || !it->is_string()) return false;
  const std::string name = it->get<std::string>();
  return std::find(kClasses.begin(), kClasses.end(), name) != kClasses.end();
}

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer(const fs::path& model_folder) {
  if (!fs::is_directory(model_folder)) throw InvalidInput(model_folder.string() + ": not a model folder");
  FolderFiles files;
  const fs::path sp_model = model_folder / "tokenizer.model";
  const fs::path hf_json = model_folder / "tokenizer.json";
  std::unique_ptr<Tokenizer> tokenizer;
  if (fs::exists(sp_model)) {
    try {
      tokenizer = load_sentencepiece_tokenizer(sp_model);
      files.tokenizer_file = sp_model;
    } catch (const InvalidInput&) {
      // Some folders carry another format under this name (e.g. tiktoken);
      // tokenizer.json then describes the tokenizer.
      if (!fs::exists(hf_json)) throw;
    }
  }
  if (!tokenizer) {
    if (!fs::exists(hf_json)) {
      throw InvalidInput(model_folder.string() + ": no tokenizer.model or tokenizer.json in the model folder");
    }
    tokenizer = load_hf_tokenizer(hf_json);
    files.tokenizer_file = hf_json;
  }

  files.tokenizer_config_path = model_folder / "tokenizer_config.json";
  files.special_map_path = model_folder / "special_tokens_map.json";
  files.generation_path = model_folder / "generation_config.json";
  files.config_path = model_folder / "config.json";
  files.tokenizer_config = read_optional_object(files.tokenizer_config_path);
  files.special_map = read_optional_object(files.special_map_path);
  files.generation = read_optional_object(files.generation_path);
  files.config = read_optional_object(files.config_path);

  const std::optional<TokenId> bos = resolve_special(*tokenizer, files, "bos", tokenizer->bos_id());
  const std::optional<TokenId> eos = resolve_special(*tokenizer, files, "eos", tokenizer->eos_id());

  // add_bos: tokenizer_config.json's add_bos_token, else the class default,
  // else what the tokenizer file says (sentencepiece: yes; tokenizer.json:
  // whether its post-processor template starts with a special token).
  bool add_bos = tokenizer->add_bos();
  if (class_adds_bos(files.tokenizer_config)) add_bos = true;
  if (files.tokenizer_config.is_object() && files.tokenizer_config.contains("add_bos_token")) {
    const json& value = files.tokenizer_config["add_bos_token"];
    if (!value.is_boolean()) {
      throw InvalidInput(files.tokenizer_config_path.string() + ": add_bos_token: expected true or false, got " +
                         value.dump());
    }
    add_bos = value.get<bool>();
  }
  tokenizer->set_special_tokens(bos, eos, add_bos);
  return tokenizer;
}

}  // namespace lorafarm::engine
