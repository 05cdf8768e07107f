// Reading preference records (TRL's formats) into pairs of tokenized samples, and batching them.
#include "engine/preference_data.h"

#include <algorithm>
#include <numeric>

#include "engine/batch_order.h"
#include "engine/error.h"
#include "engine/jsonl.h"

namespace lorafarm::engine {
namespace {

using nlohmann::json;

const json& required(const json& record, const char* key, const std::string& where) {
  const auto it = record.find(key);
  if (it == record.end()) throw InvalidInput(where + ": a preference record needs '" + key + "'");
  return *it;
}

// A completion or prompt in conversational form: a message object or a non-empty list of them.
json message_list(const json& value, const char* key, const std::string& where) {
  if (value.is_object()) return json::array({value});
  if (value.is_array() && !value.empty() && std::all_of(value.begin(), value.end(), [](const json& m) { return m.is_object(); })) {
    return value;
  }
  throw InvalidInput(where + ": '" + key + "' must be a message {role, content} or a non-empty list of messages");
}

json concatenated(json prompt, const json& completion) {
  for (const json& m : completion) prompt.push_back(m);
  return prompt;
}

std::pair<json, json> chat_records(const json& prompt, const json& record, const std::string& where) {
  const json chosen = message_list(required(record, "chosen", where), "chosen", where);
  const json rejected = message_list(required(record, "rejected", where), "rejected", where);
  return {{{"messages", concatenated(prompt, chosen)}}, {{"messages", concatenated(prompt, rejected)}}};
}

// Implicit prompt, text: the common prefix, ending before the space that
// precedes the first differing word (so completions start with their space).
std::pair<json, json> implicit_text_records(const std::string& chosen, const std::string& rejected, const std::string& where) {
  if (chosen == rejected) throw InvalidInput(where + ": 'chosen' and 'rejected' are the same text");
  std::size_t n = 0;
  while (n < chosen.size() && n < rejected.size() && chosen[n] == rejected[n]) ++n;
  if (n > 0 && chosen[n - 1] == ' ') --n;
  const std::string prompt = chosen.substr(0, n);
  return {{{"prompt", prompt}, {"completion", chosen.substr(n)}}, {{"prompt", prompt}, {"completion", rejected.substr(n)}}};
}

// Implicit prompt, conversations: the messages both share from the start.
std::pair<json, json> implicit_chat_records(const json& chosen, const json& rejected, const std::string& where) {
  std::size_t n = 0;
  while (n < chosen.size() && n < rejected.size() && chosen[n] == rejected[n]) ++n;
  if (n == chosen.size() && n == rejected.size()) throw InvalidInput(where + ": 'chosen' and 'rejected' are the same conversation");
  if (n == chosen.size() || n == rejected.size()) {
    throw InvalidInput(where + ": one of 'chosen' and 'rejected' is a prefix of the other (no completion to compare)");
  }
  return {{{"messages", chosen}}, {{"messages", rejected}}};
}

}  // namespace

std::pair<json, json> preference_records(const json& record, const std::string& where) {
  if (!record.is_object()) throw InvalidInput(where + ": a preference record must be a JSON object");
  if (record.contains("messages")) return chat_records(message_list(record["messages"], "messages", where), record, where);
  const json& chosen = required(record, "chosen", where);
  const json& rejected = required(record, "rejected", where);
  if (record.contains("prompt")) {
    const json& prompt = record["prompt"];
    if (!prompt.is_string()) return chat_records(message_list(prompt, "prompt", where), record, where);
    if (!chosen.is_string() || !rejected.is_string()) {
      throw InvalidInput(where + ": with a text 'prompt', 'chosen' and 'rejected' must be texts");
    }
    return {{{"prompt", prompt}, {"completion", chosen}}, {{"prompt", prompt}, {"completion", rejected}}};
  }
  if (chosen.is_string() && rejected.is_string()) return implicit_text_records(chosen, rejected, where);
  return implicit_chat_records(message_list(chosen, "chosen", where), message_list(rejected, "rejected", where), where);
}

std::vector<PreferencePair> load_preference_split(const std::filesystem::path& folder, const std::string& split,
                                                  const Tokenizer& tokenizer, DataOptions options) {
  const auto path = folder / (split + ".jsonl");
  if (!std::filesystem::exists(path)) throw InvalidInput(path.string() + ": no such file");
  options.mask_prompt = true;  // a completion's log-probability excludes its prompt
  std::vector<PreferencePair> pairs;
  for (const JsonlRecord& record : read_jsonl(path)) {
    const std::string where = path.string() + ":" + std::to_string(record.line);
    const auto [chosen, rejected] = preference_records(record.value, where);
    pairs.push_back({tokenize_record(chosen, tokenizer, options, where + " (chosen)"),
                     tokenize_record(rejected, tokenizer, options, where + " (rejected)")});
  }
  if (pairs.empty()) throw InvalidInput(path.string() + ": the " + split + " set is empty");
  return pairs;
}

TrainBatch make_pair_batch(const std::vector<PreferencePair>& pairs, std::span<const std::size_t> indices) {
  std::vector<Sample> rows;
  rows.reserve(indices.size() * 2);
  for (std::size_t i : indices) {
    rows.push_back(pairs[i].chosen);
    rows.push_back(pairs[i].rejected);
  }
  std::vector<std::size_t> all(rows.size());
  std::iota(all.begin(), all.end(), 0);
  return make_batch(rows, all);
}

std::vector<std::vector<std::size_t>> length_sorted_pair_batches(const std::vector<PreferencePair>& pairs,
                                                                 int batch_size, bool keep_partial) {
  return length_sorted_groups(pair_lengths(pairs), batch_size, keep_partial);
}

std::vector<std::size_t> pair_lengths(const std::vector<PreferencePair>& pairs) {
  std::vector<std::size_t> lengths;
  lengths.reserve(pairs.size());
  for (const PreferencePair& p : pairs) lengths.push_back(std::max(p.chosen.tokens.size(), p.rejected.tokens.size()));
  return lengths;
}

}  // namespace lorafarm::engine
