// Fine-tuning data as mlx-lm reads it: `{train,valid,test}.jsonl` whose lines
// are {"text"}, {"prompt", "completion"} or {"messages": [{"role", "content"}]},
// tokenized with BOS (when the tokenizer adds one) and EOS appended, cut at
// max_seq_length, optionally with the prompt masked out of the loss; batched
// in length-sorted groups (engine/batch_order.h orders them for training).
//
// Chat data (docs/chat-templates.md): `messages` records are rendered with
// the model's own chat template (DataOptions::chat_format), or with the
// default "### Role:" format when the model has none. With a model template,
// `prompt`/`completion` records are the conversation [user: prompt,
// assistant: completion]; without one, the plain concatenation prompt +
// completion. With mask_prompt, chat samples carry loss on exactly the
// assistant messages' tokens (engine/chat_spans.h).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "engine/chat_format.h"
#include "engine/tokenizer.h"
#include "engine/train_batch.h"

namespace lorafarm::engine {

struct Sample {
  std::vector<TokenId> tokens;
  int prompt_tokens = 0;  // tokens before the first one that carries loss (0 = none masked)
  // Chat samples with mask_prompt: 1 for each token that carries loss (the
  // assistant's). Empty: every token from prompt_tokens on carries loss.
  std::vector<uint8_t> loss_mask;
};

struct DataOptions {
  int max_seq_length = 2048;
  bool mask_prompt = false;
  bool add_eos = true;  // mlx-lm appends EOS when the text does not end with it (not after a model's template)
  // How chat records become text: load_chat_format(model folder). Null: the default format.
  std::shared_ptr<const ChatFormat> chat_format;
};

// Tokenizes one record ({"text"}, {"prompt", "completion"} or {"messages"});
// `where` (file:line) names it in errors. load_split's per-line step, also
// used by the preference data (engine/preference_data.h).
Sample tokenize_record(const nlohmann::json& record, const Tokenizer& tokenizer, const DataOptions& options,
                       const std::string& where);

// Tokenizes {folder}/{split}.jsonl. A record that ends up with no token
// carrying loss (empty text, or a prompt that fills max_seq_length) is an
// InvalidInput naming its line. An empty file too.
std::vector<Sample> load_split(const std::filesystem::path& folder, const std::string& split, const Tokenizer& tokenizer,
                               const DataOptions& options);

// Right-padded batch of samples[indices]: inputs t, targets t+1; weight 1 on
// real targets past the prompt (or marked in loss_mask).
TrainBatch make_batch(const std::vector<Sample>& samples, std::span<const std::size_t> indices);

// Groups of `batch_size` sample indices in order of length (mlx-lm); the
// last incomplete group is kept only when keep_partial.
std::vector<std::vector<std::size_t>> length_sorted_batches(const std::vector<Sample>& samples, int batch_size,
                                                            bool keep_partial);

}  // namespace lorafarm::engine
