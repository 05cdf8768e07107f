// Preference data for DPO: `{train,valid,test}.jsonl` whose lines hold a
// prompt with a chosen and a rejected completion, in the formats TRL
// documents (huggingface.co/docs/trl/dataset_formats, "Preference"):
//   standard:        {"prompt": "The sky is", "chosen": " blue.", "rejected": " green."}
//   implicit prompt: {"chosen": "The sky is blue.", "rejected": "The sky is green."}
//   conversational:  {"prompt": [messages], "chosen": [messages], "rejected": [messages]}
//                    (a single message object is accepted for chosen/rejected)
//   conversational, implicit prompt: {"chosen": [messages], "rejected": [messages]}
//   chat form:       {"messages": [the conversation so far], "chosen": {...}, "rejected": {...}}
// Each completion becomes an ordinary data-set record (prompt/completion, or
// messages) tokenized by engine/dataset.h with the prompt masked, so chat
// rendering is whatever the data sets do.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "engine/dataset.h"

namespace lorafarm::engine {

struct PreferencePair {
  Sample chosen, rejected;  // prompt_tokens set: only the completion carries loss
};

// The two data-set records ({"prompt", "completion"} or {"messages"}) of one
// preference record; InvalidInput naming `where` and the field.
std::pair<nlohmann::json, nlohmann::json> preference_records(const nlohmann::json& record, const std::string& where);

// Tokenizes {folder}/{split}.jsonl; `options.mask_prompt` is forced on.
std::vector<PreferencePair> load_preference_split(const std::filesystem::path& folder, const std::string& split,
                                                  const Tokenizer& tokenizer, DataOptions options);

// One right-padded batch of 2·n rows: row 2k is pairs[indices[k]].chosen, row
// 2k+1 its rejected completion.
TrainBatch make_pair_batch(const std::vector<PreferencePair>& pairs, std::span<const std::size_t> indices);

// Pair indices in groups of `batch_size`, ordered by the longer completion's
// length (the last incomplete group kept when keep_partial).
std::vector<std::vector<std::size_t>> length_sorted_pair_batches(const std::vector<PreferencePair>& pairs,
                                                                 int batch_size, bool keep_partial);

// The sort key of each pair for batching: its longer completion's token count.
std::vector<std::size_t> pair_lengths(const std::vector<PreferencePair>& pairs);

}  // namespace lorafarm::engine
