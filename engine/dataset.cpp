// Reading, tokenizing and batching mlx-lm style JSONL data sets.
#include "engine/dataset.h"

#include <algorithm>
#include <numeric>

#include "engine/error.h"
#include "engine/jsonl.h"

namespace lorafarm::engine {
namespace {

std::string role_header(const std::string& role) {
  if (role == "system") return "### System:\n";
  if (role == "user") return "### User:\n";
  if (role == "assistant") return "### Assistant:\n";
  return "### " + role + ":\n";
}

std::string string_field(const nlohmann::json& object, const char* key, const std::string& where) {
  const auto it = object.find(key);
  if (it == object.end() || !it->is_string()) throw InvalidInput(where + ": expected a string field '" + key + "'");
  return it->get<std::string>();
}

// (full text, prompt text) of one record in any of the three formats.
std::pair<std::string, std::string> record_text(const nlohmann::json& value, const std::string& where) {
  if (value.contains("text")) return {string_field(value, "text", where), ""};
  if (value.contains("prompt") || value.contains("completion")) {
    const std::string prompt = string_field(value, "prompt", where);
    return {prompt + string_field(value, "completion", where), prompt};
  }
  if (value.contains("messages")) {
    const auto& list = value["messages"];
    if (!list.is_array() || list.empty()) throw InvalidInput(where + ": 'messages' must be a non-empty array");
    std::vector<std::pair<std::string, std::string>> messages;
    for (const auto& m : list) {
      if (!m.is_object()) throw InvalidInput(where + ": each message must be an object with role and content");
      messages.emplace_back(string_field(m, "role", where + ": message"), string_field(m, "content", where + ": message"));
    }
    std::vector<std::pair<std::string, std::string>> before(messages.begin(), messages.end() - 1);
    return {render_chat(messages, false), render_chat(before, false) + role_header(messages.back().first)};
  }
  throw InvalidInput(where + ": a record needs 'text', 'prompt' and 'completion', or 'messages'");
}

}  // namespace

std::string render_chat(const std::vector<std::pair<std::string, std::string>>& messages, bool add_assistant_header) {
  std::string out;
  for (const auto& [role, content] : messages) out += role_header(role) + content + "\n\n";
  if (add_assistant_header) out += role_header("assistant");
  return out;
}

Sample tokenize_record(const nlohmann::json& record, const Tokenizer& tokenizer, const DataOptions& options,
                       const std::string& where) {
  const auto [text, prompt] = record_text(record, where);
  Sample s;
  if (tokenizer.add_bos()) s.tokens.push_back(*tokenizer.bos_id());
  const std::vector<TokenId> ids = tokenizer.encode(text);
  s.tokens.insert(s.tokens.end(), ids.begin(), ids.end());
  if (options.add_eos && tokenizer.eos_id() && (s.tokens.empty() || s.tokens.back() != *tokenizer.eos_id())) {
    s.tokens.push_back(*tokenizer.eos_id());
  }
  if (options.mask_prompt && !prompt.empty()) {
    s.prompt_tokens = static_cast<int>(tokenizer.encode(prompt).size()) + (tokenizer.add_bos() ? 1 : 0);
  }
  if (static_cast<int>(s.tokens.size()) > options.max_seq_length) {
    s.tokens.resize(static_cast<std::size_t>(options.max_seq_length));
  }
  if (static_cast<int>(s.tokens.size()) <= std::max(1, s.prompt_tokens)) {
    throw InvalidInput(where + ": no token carries loss (" + std::to_string(s.tokens.size()) + " tokens, " +
                       std::to_string(s.prompt_tokens) + " of them prompt, max_seq_length " +
                       std::to_string(options.max_seq_length) + ")");
  }
  return s;
}

std::vector<Sample> load_split(const std::filesystem::path& folder, const std::string& split, const Tokenizer& tokenizer,
                               const DataOptions& options) {
  const auto path = folder / (split + ".jsonl");
  if (!std::filesystem::exists(path)) throw InvalidInput(path.string() + ": no such file");
  std::vector<Sample> samples;
  for (const JsonlRecord& record : read_jsonl(path)) {
    samples.push_back(tokenize_record(record.value, tokenizer, options, path.string() + ":" + std::to_string(record.line)));
  }
  if (samples.empty()) throw InvalidInput(path.string() + ": the " + split + " set is empty");
  return samples;
}

TrainBatch make_batch(const std::vector<Sample>& samples, std::span<const std::size_t> indices) {
  TrainBatch b;
  b.batch = static_cast<int>(indices.size());
  for (std::size_t i : indices) b.length = std::max(b.length, static_cast<int>(samples[i].tokens.size()) - 1);
  const auto total = static_cast<std::size_t>(b.batch) * static_cast<std::size_t>(b.length);
  b.inputs.assign(total, 0);
  b.targets.assign(total, 0);
  b.weights.assign(total, 0.0f);
  for (int s = 0; s < b.batch; ++s) {
    const Sample& sample = samples[indices[static_cast<std::size_t>(s)]];
    const int n = static_cast<int>(sample.tokens.size());
    const int first_loss = std::max(1, sample.prompt_tokens);  // index of the first target token with loss
    for (int t = 0; t + 1 < n; ++t) {
      const std::size_t r = static_cast<std::size_t>(s) * b.length + t;
      b.inputs[r] = sample.tokens[static_cast<std::size_t>(t)];
      b.targets[r] = sample.tokens[static_cast<std::size_t>(t) + 1];
      b.weights[r] = t + 1 >= first_loss ? 1.0f : 0.0f;
    }
  }
  return b;
}

std::vector<std::vector<std::size_t>> length_sorted_batches(const std::vector<Sample>& samples, int batch_size,
                                                            bool keep_partial) {
  std::vector<std::size_t> order(samples.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return samples[a].tokens.size() < samples[b].tokens.size(); });
  std::vector<std::vector<std::size_t>> batches;
  const auto size = static_cast<std::size_t>(batch_size);
  for (std::size_t first = 0; first < order.size(); first += size) {
    if (first + size > order.size() && !keep_partial) break;
    batches.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(first),
                         order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), first + size)));
  }
  return batches;
}

void seeded_shuffle(std::vector<std::size_t>& items, std::mt19937_64& rng) {
  for (std::size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[rng() % i]);
}

BatchStream::BatchStream(const std::vector<Sample>& samples, int batch_size, uint64_t seed, Order order)
    : samples_(samples), batch_size_(batch_size), order_(order), rng_(seed) {
  if (batch_size < 1) throw InvalidInput("batch_size must be at least 1");
  if (static_cast<int64_t>(samples.size()) < batch_size) {
    throw InvalidInput("the training set has " + std::to_string(samples.size()) +
                       " samples, fewer than batch_size " + std::to_string(batch_size));
  }
  if (order_ == Order::kSortedGroups) batches_ = length_sorted_batches(samples, batch_size, false);
}

void BatchStream::new_epoch() {
  ++epoch_;
  position_ = 0;
  if (order_ == Order::kSortedGroups) {
    order_of_batches_.resize(batches_.size());
    std::iota(order_of_batches_.begin(), order_of_batches_.end(), 0);
    seeded_shuffle(order_of_batches_, rng_);
    return;
  }
  std::vector<std::size_t> perm(samples_.size());
  std::iota(perm.begin(), perm.end(), 0);
  seeded_shuffle(perm, rng_);
  batches_.clear();
  const auto size = static_cast<std::size_t>(batch_size_);
  for (std::size_t first = 0; first + size <= perm.size(); first += size) {
    batches_.emplace_back(perm.begin() + static_cast<std::ptrdiff_t>(first),
                          perm.begin() + static_cast<std::ptrdiff_t>(first + size));
  }
  order_of_batches_.resize(batches_.size());
  std::iota(order_of_batches_.begin(), order_of_batches_.end(), 0);
}

TrainBatch BatchStream::next() {
  if (epoch_ < 0 || position_ >= order_of_batches_.size()) new_epoch();
  return make_batch(samples_, batches_[order_of_batches_[position_++]]);
}

}  // namespace lorafarm::engine
