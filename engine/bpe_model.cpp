// BPE encoding of one word as the tokenizers library does it: start from the
// word's characters (or their byte tokens, or <unk>), then repeatedly apply
// the lowest-ranked merge present, leftmost first, using a priority queue
// over a linked list of symbols (O(n log n) per word).
#include "engine/bpe_model.h"

#include <algorithm>
#include <cstdio>
#include <queue>

#include "engine/error.h"
#include "engine/unicode.h"

namespace lorafarm::engine {
namespace {

constexpr std::size_t kCachedWordMaxBytes = 64;
constexpr std::size_t kCacheCapacity = 100000;

std::string byte_token_name(int byte) {
  char name[8];
  std::snprintf(name, sizeof name, "<0x%02X>", byte);
  return name;
}

constexpr TokenId kMaxTokenId = (1 << 22) - 1;

}  // namespace

BpeModel::BpeModel(const std::vector<std::pair<std::string, TokenId>>& vocab,
                   const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions options)
    : options_(std::move(options)) {
  TokenId max_id = -1;
  for (const auto& [token, id] : vocab) {
    if (id < 0) throw InvalidInput("model.vocab: negative id " + std::to_string(id) + " for \"" + token + "\"");
    // Pieces are indexed by id; the largest real vocabularies (Gemma 3's
    // 262,144) are far below this, and a corrupt id must not allocate gigabytes.
    if (id > kMaxTokenId) {
      throw InvalidInput("model.vocab: id " + std::to_string(id) + " for \"" + token + "\" is above the largest supported id " +
                         std::to_string(kMaxTokenId));
    }
    vocab_.emplace(token, id);
    max_id = std::max(max_id, id);
  }
  pieces_.resize(static_cast<std::size_t>(max_id + 1));
  has_piece_.assign(pieces_.size(), false);
  for (const auto& [token, id] : vocab) {
    pieces_[id] = token;
    has_piece_[id] = true;
  }
  auto id_of = [&](const std::string& token, std::size_t rank, const std::string& role) {
    const auto it = vocab_.find(token);
    if (it == vocab_.end()) {
      throw InvalidInput("model.merges[" + std::to_string(rank) + "]: " + role + " \"" + token +
                         "\" is not in the vocabulary");
    }
    return it->second;
  };
  merges_.reserve(merges.size());
  for (std::size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [left, right] = merges[rank];
    const TokenId a = id_of(left, rank, "token");
    const TokenId b = id_of(right, rank, "token");
    const TokenId merged = id_of(left + right, rank, "merged token");
    // A pair listed twice keeps its first (best) rank.
    merges_.emplace(pair_key(a, b), Merge{static_cast<int>(rank), merged});
  }
  all_byte_tokens_ = true;
  for (int byte = 0; byte < 256; ++byte) {
    const auto it = vocab_.find(byte_token_name(byte));
    byte_tokens_[byte] = it == vocab_.end() ? -1 : it->second;
    if (it == vocab_.end()) all_byte_tokens_ = false;
  }
  for (int c = 0; c < 128; ++c) {
    const auto it = vocab_.find(std::string(1, static_cast<char>(c)));
    ascii_ids_[c] = it == vocab_.end() ? -1 : it->second;
  }
  if (options_.unk_token) {
    const auto it = vocab_.find(*options_.unk_token);
    if (it == vocab_.end()) throw InvalidInput("model.unk_token: \"" + *options_.unk_token + "\" is not in the vocabulary");
    unk_id_ = it->second;
  }
}

std::optional<TokenId> BpeModel::token_to_id(std::string_view token) const {
  const auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::id_to_token(TokenId id) const {
  if (id < 0 || id >= id_limit() || !has_piece_[id]) return nullptr;
  return &pieces_[id];
}

// The word's characters as ids. A character outside the vocabulary becomes
// its UTF-8 bytes' <0xNN> tokens when byte fallback has them all, else <unk>
// (runs of unknowns fused into one <unk> with fuse_unk), else it is dropped,
// as the tokenizers library does when no unk token is set.
void BpeModel::initial_symbols(std::string_view word, std::vector<TokenId>& ids) const {
  bool pending_unk = false;
  auto flush_unk = [&] {
    if (pending_unk) ids.push_back(*unk_id_);
    pending_unk = false;
  };
  const bool plain = options_.continuing_subword_prefix.empty() && options_.end_of_word_suffix.empty();
  std::string with_affixes;
  std::size_t pos = 0;
  while (pos < word.size()) {
    const auto byte = static_cast<unsigned char>(word[pos]);
    if (plain && byte < 128 && ascii_ids_[byte] >= 0) {  // the common case, without hashing
      flush_unk();
      ids.push_back(ascii_ids_[byte]);
      ++pos;
      continue;
    }
    const std::size_t length = unicode::char_length(word, pos);
    std::string_view ch = word.substr(pos, length);
    const bool first = pos == 0;
    pos += length;
    const bool last = pos == word.size();
    if ((!first && !options_.continuing_subword_prefix.empty()) || (last && !options_.end_of_word_suffix.empty())) {
      with_affixes.clear();
      if (!first) with_affixes += options_.continuing_subword_prefix;
      with_affixes += ch;
      if (last) with_affixes += options_.end_of_word_suffix;
      ch = with_affixes;
    }
    if (const auto it = vocab_.find(ch); it != vocab_.end()) {
      flush_unk();
      ids.push_back(it->second);
      continue;
    }
    if (options_.byte_fallback) {
      const bool all_present = all_byte_tokens_ || std::all_of(ch.begin(), ch.end(), [&](char c) {
                                 return byte_tokens_[static_cast<unsigned char>(c)] >= 0;
                               });
      if (all_present) {
        flush_unk();
        for (const char c : ch) ids.push_back(byte_tokens_[static_cast<unsigned char>(c)]);
        continue;
      }
    }
    if (!unk_id_) continue;
    if (pending_unk && !options_.fuse_unk) flush_unk();
    pending_unk = true;
  }
  flush_unk();
}

std::vector<TokenId> BpeModel::merge_word(std::string_view word) const {
  std::vector<TokenId> ids;
  if (options_.ignore_merges) {
    if (const auto it = vocab_.find(word); it != vocab_.end()) return {it->second};
  }
  initial_symbols(word, ids);
  const int n = static_cast<int>(ids.size());
  if (n < 2 || merges_.empty()) return ids;

  // Symbols form a doubly linked list; a merged-away symbol gets alive=false.
  std::vector<int> prev(n), next(n);
  std::vector<bool> alive(n, true);
  for (int i = 0; i < n; ++i) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  struct Candidate {
    int rank;
    int pos;
    TokenId merged;
    // std::priority_queue pops the largest: make the lowest rank, then the
    // leftmost position, the largest.
    bool operator<(const Candidate& other) const {
      if (rank != other.rank) return rank > other.rank;
      return pos > other.pos;
    }
  };
  std::priority_queue<Candidate> queue;
  auto consider = [&](int pos) {
    if (pos < 0 || next[pos] < 0) return;
    const auto it = merges_.find(pair_key(ids[pos], ids[next[pos]]));
    if (it != merges_.end()) queue.push({it->second.rank, pos, it->second.merged});
  };
  for (int i = 0; i + 1 < n; ++i) consider(i);

  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    if (!alive[top.pos] || next[top.pos] < 0) continue;
    const int right = next[top.pos];
    // Stale entry: the pair at this position changed since it was queued.
    const auto it = merges_.find(pair_key(ids[top.pos], ids[right]));
    if (it == merges_.end() || it->second.merged != top.merged) continue;
    ids[top.pos] = top.merged;
    alive[right] = false;
    next[top.pos] = next[right];
    if (next[right] >= 0) prev[next[right]] = top.pos;
    consider(prev[top.pos]);
    consider(top.pos);
  }
  std::vector<TokenId> result;
  result.reserve(n);
  for (int i = 0; i >= 0; i = next[i]) result.push_back(ids[i]);
  return result;
}

void BpeModel::tokenize(std::string_view word, std::vector<TokenId>& out) const {
  if (word.empty()) return;
  const bool cacheable = word.size() <= kCachedWordMaxBytes;
  if (cacheable) {
    std::lock_guard lock(cache_mutex_);
    if (const auto it = cache_.find(word); it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<TokenId> ids = merge_word(word);
  out.insert(out.end(), ids.begin(), ids.end());
  if (cacheable) {
    std::lock_guard lock(cache_mutex_);
    if (cache_.size() >= kCacheCapacity) cache_.clear();
    cache_.emplace(std::string(word), std::move(ids));
  }
}

}  // namespace lorafarm::engine
