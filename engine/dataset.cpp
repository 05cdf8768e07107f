// Reading, tokenizing and batching mlx-lm style JSONL data sets.
#include "engine/dataset.h"

#include <algorithm>

#include "engine/batch_order.h"
#include "engine/chat_spans.h"
#include "engine/error.h"
#include "engine/jsonl.h"

namespace lorafarm::engine {
namespace {

std::string string_field(const nlohmann::json& object, const char* key, const std::string& where) {
  const auto it = object.find(key);
  if (it == object.end() || !it->is_string()) throw InvalidInput(where + ": expected a string field '" + key + "'");
  return it->get<std::string>();
}

// `text`, or prompt + completion without a chat template: BOS + ids + EOS,
// loss from the end of the prompt's tokens on.
Sample plain_sample(const std::string& text, const std::string& prompt, const Tokenizer& tokenizer,
                    const DataOptions& options) {
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
  return s;
}

// A conversation: a model's template writes its own special tokens (no BOS
// or EOS added, as apply_chat_template); the default format gets BOS and EOS
// like text. With mask_prompt only the assistant's tokens carry loss (an
// appended EOS counts with the token before it).
Sample chat_sample(const nlohmann::ordered_json& messages, const ChatFormat& format, const Tokenizer& tokenizer,
                   const DataOptions& options) {
  const RenderedChat chat = options.mask_prompt ? render_with_assistant_spans(format, messages)
                                                : RenderedChat{format.render(messages, false), {}};
  const bool adds_specials = !format.is_model_template();
  Sample s;
  if (adds_specials && tokenizer.add_bos()) s.tokens.push_back(*tokenizer.bos_id());
  const std::size_t offset = s.tokens.size();
  const std::vector<TokenId> ids = encode_chat_text(tokenizer, format, chat.text);
  s.tokens.insert(s.tokens.end(), ids.begin(), ids.end());
  if (adds_specials && options.add_eos && tokenizer.eos_id() && (s.tokens.empty() || s.tokens.back() != *tokenizer.eos_id())) {
    s.tokens.push_back(*tokenizer.eos_id());
  }
  if (!options.mask_prompt) return s;
  const std::vector<uint8_t> mask = span_token_mask(tokenizer, format, chat.text, ids, chat.assistant_spans);
  s.loss_mask.assign(s.tokens.size(), 0);
  std::copy(mask.begin(), mask.end(), s.loss_mask.begin() + static_cast<std::ptrdiff_t>(offset));
  if (s.tokens.size() > offset + mask.size() && !mask.empty()) s.loss_mask.back() = mask.back();
  const auto first = std::find(s.loss_mask.begin(), s.loss_mask.end(), 1);
  s.prompt_tokens = static_cast<int>(first - s.loss_mask.begin());
  return s;
}

nlohmann::ordered_json checked_messages(const JsonlRecord& record, const std::string& where) {
  // Parsed again keeping the file's key order, which a template's tojson writes.
  const nlohmann::ordered_json list = nlohmann::ordered_json::parse(record.text).at("messages");
  if (!list.is_array() || list.empty()) throw InvalidInput(where + ": 'messages' must be a non-empty array");
  for (const auto& m : list) {
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string() || !m.contains("content")) {
      throw InvalidInput(where + ": each message must be an object with a string 'role' and a 'content'");
    }
  }
  return list;
}

Sample record_sample(const JsonlRecord& record, const std::string& where, const Tokenizer& tokenizer,
                     const DataOptions& options, const ChatFormat& format) {
  const nlohmann::json& value = record.value;
  if (value.contains("text")) return plain_sample(string_field(value, "text", where), "", tokenizer, options);
  try {
    if (value.contains("prompt") || value.contains("completion")) {
      const std::string prompt = string_field(value, "prompt", where);
      const std::string completion = string_field(value, "completion", where);
      if (!format.is_model_template()) return plain_sample(prompt + completion, prompt, tokenizer, options);
      const nlohmann::ordered_json messages = {{{"role", "user"}, {"content", prompt}},
                                               {{"role", "assistant"}, {"content", completion}}};
      return chat_sample(messages, format, tokenizer, options);
    }
    if (value.contains("messages")) return chat_sample(checked_messages(record, where), format, tokenizer, options);
  } catch (const InvalidInput& e) {
    const std::string message = e.what();
    throw InvalidInput(message.rfind(where, 0) == 0 ? message : where + ": " + message);
  }
  throw InvalidInput(where + ": a record needs 'text', 'prompt' and 'completion', or 'messages'");
}

int tokens_with_loss(const Sample& s) {
  const int n = static_cast<int>(s.tokens.size());
  if (s.loss_mask.empty()) return std::max(0, n - std::max(1, s.prompt_tokens));
  return static_cast<int>(std::count(s.loss_mask.begin() + std::min<std::ptrdiff_t>(1, n), s.loss_mask.end(), 1));
}

// One record's sample, cut at max_seq_length; an error when no token is left
// carrying loss.
Sample finished_sample(const JsonlRecord& record, const std::string& where, const Tokenizer& tokenizer,
                       const DataOptions& options) {
  const std::shared_ptr<const ChatFormat> format = options.chat_format ? options.chat_format : default_chat_format();
  Sample s = record_sample(record, where, tokenizer, options, *format);
  if (static_cast<int>(s.tokens.size()) > options.max_seq_length) {
    s.tokens.resize(static_cast<std::size_t>(options.max_seq_length));
    if (!s.loss_mask.empty()) s.loss_mask.resize(s.tokens.size());
  }
  if (tokens_with_loss(s) == 0) {
    throw InvalidInput(where + ": no token carries loss (" + std::to_string(s.tokens.size()) + " tokens, " +
                       std::to_string(s.prompt_tokens) + " of them prompt, max_seq_length " +
                       std::to_string(options.max_seq_length) + ")");
  }
  return s;
}

}  // namespace

Sample tokenize_record(const nlohmann::json& record, const Tokenizer& tokenizer, const DataOptions& options,
                       const std::string& where) {
  // A record built in memory (a preference pair's side) has no line of its
  // own; its text is its dump, so messages keep nlohmann's key order.
  return finished_sample(JsonlRecord{0, record, record.dump()}, where, tokenizer, options);
}

std::vector<Sample> load_split(const std::filesystem::path& folder, const std::string& split, const Tokenizer& tokenizer,
                               const DataOptions& options) {
  const auto path = folder / (split + ".jsonl");
  if (!std::filesystem::exists(path)) throw InvalidInput(path.string() + ": no such file");
  std::vector<Sample> samples;
  for (const JsonlRecord& record : read_jsonl(path)) {
    samples.push_back(finished_sample(record, path.string() + ":" + std::to_string(record.line), tokenizer, options));
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
      const bool loss = sample.loss_mask.empty() ? t + 1 >= first_loss : sample.loss_mask[static_cast<std::size_t>(t) + 1] != 0;
      b.weights[r] = loss ? 1.0f : 0.0f;
    }
  }
  return b;
}

std::vector<std::vector<std::size_t>> length_sorted_batches(const std::vector<Sample>& samples, int batch_size,
                                                            bool keep_partial) {
  std::vector<std::size_t> lengths;
  lengths.reserve(samples.size());
  for (const Sample& s : samples) lengths.push_back(s.tokens.size());
  return length_sorted_groups(lengths, batch_size, keep_partial);
}

}  // namespace lorafarm::engine
