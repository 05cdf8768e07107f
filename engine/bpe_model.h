// The BPE model of a Hugging Face tokenizer.json: a vocabulary, ranked merges,
// and what to do with characters outside the vocabulary (byte fallback to
// <0xNN> tokens, or <unk>, consecutive unknowns fused into one).
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/tokenizer.h"

namespace lorafarm::engine {

struct BpeOptions {
  std::optional<std::string> unk_token;
  bool fuse_unk = false;
  bool byte_fallback = false;
  bool ignore_merges = false;  // a word that is itself a token is not split (Llama-3)
  std::string continuing_subword_prefix;
  std::string end_of_word_suffix;
};

class BpeModel {
 public:
  // Throws InvalidInput (without a file name: the caller adds it) when a
  // merge names a token missing from the vocabulary or the unk token is absent.
  BpeModel(const std::vector<std::pair<std::string, TokenId>>& vocab,
           const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions options);

  // Appends the ids of one pre-tokenized word to `out`.
  void tokenize(std::string_view word, std::vector<TokenId>& out) const;

  std::optional<TokenId> token_to_id(std::string_view token) const;
  // nullptr when no token has this id.
  const std::string* id_to_token(TokenId id) const;
  // One past the largest id.
  int id_limit() const { return static_cast<int>(pieces_.size()); }

 private:
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Merge {
    int rank;
    TokenId merged;
  };
  static uint64_t pair_key(TokenId a, TokenId b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }

  std::vector<TokenId> merge_word(std::string_view word) const;
  void initial_symbols(std::string_view word, std::vector<TokenId>& ids) const;

  std::unordered_map<std::string, TokenId, StringHash, std::equal_to<>> vocab_;
  std::vector<std::string> pieces_;  // by id; empty for ids without a token
  std::vector<bool> has_piece_;
  std::unordered_map<uint64_t, Merge> merges_;
  std::array<TokenId, 256> byte_tokens_{};  // -1 when <0xNN> is not in the vocabulary
  std::array<TokenId, 128> ascii_ids_{};    // ids of one-character ASCII tokens, -1 when absent
  bool all_byte_tokens_ = false;
  std::optional<TokenId> unk_id_;
  BpeOptions options_;

  // Words repeat a lot in byte-level text; their ids are cached (bounded).
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<TokenId>, StringHash, std::equal_to<>> cache_;
};

}  // namespace lorafarm::engine
