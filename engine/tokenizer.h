// Text <-> token ids. Two implementations: sentencepiece `tokenizer.model`
// (libsentencepiece) and Hugging Face `tokenizer.json` BPE (byte-level as in
// GPT-2 / Llama-3 / Qwen2, or sentencepiece-style with a "▁" normalizer and
// byte fallback as in Llama-2 conversions).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace lorafarm::engine {

using TokenId = int32_t;

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Ids of `text` without BOS/EOS (those are the caller's choice: see add_bos()).
  virtual std::vector<TokenId> encode(std::string_view text) const = 0;
  // Text of `ids`; special tokens (BOS, EOS, padding) are skipped.
  virtual std::string decode(std::span<const TokenId> ids) const = 0;
  virtual int vocab_size() const = 0;
  // The piece string of one id (e.g. "▁Once"), for diagnostics.
  virtual std::string piece(TokenId id) const = 0;
  // The id of a piece or added/special token given by its exact string
  // (e.g. "<s>", "<|endoftext|>"), as tokenizer_config.json names them.
  virtual std::optional<TokenId> token_id(std::string_view piece) const { return std::nullopt; }

  std::optional<TokenId> bos_id() const { return bos_id_; }
  std::optional<TokenId> eos_id() const { return eos_id_; }
  // Whether sequences start with BOS (tokenizer_config.json `add_bos_token`).
  bool add_bos() const { return add_bos_ && bos_id_.has_value(); }

  void set_special_tokens(std::optional<TokenId> bos, std::optional<TokenId> eos, bool add_bos) {
    bos_id_ = bos;
    eos_id_ = eos;
    add_bos_ = add_bos;
  }

 private:
  std::optional<TokenId> bos_id_;
  std::optional<TokenId> eos_id_;
  bool add_bos_ = true;
};

std::unique_ptr<Tokenizer> load_sentencepiece_tokenizer(const std::filesystem::path& model_file);
std::unique_ptr<Tokenizer> load_hf_tokenizer(const std::filesystem::path& tokenizer_json);

// The tokenizer of a model folder: `tokenizer.model` when present (the
// reference for sentencepiece models), else `tokenizer.json`. BOS/EOS and
// add_bos come from tokenizer_config.json, special_tokens_map.json and
// config.json, as transformers resolves them.
std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& model_folder);

}  // namespace lorafarm::engine
