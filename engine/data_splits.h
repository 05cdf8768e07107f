// The train, valid and (when asked for and present) test splits of a run's
// data folder, tokenized for its model: shared by the next-token and the
// preference objectives, which differ only in how a split file is read.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "engine/dataset.h"
#include "engine/tokenizer.h"
#include "engine/trainer.h"

namespace lorafarm::engine {

// How a run's records are tokenized: its max_seq_length (capped by the
// model's positions), prompt masking, EOS, and the model's chat format.
DataOptions training_data_options(const TrainConfig& config);

template <typename Item>
struct DataSplits {
  std::vector<Item> train, valid, test;
  bool has_test = false;
};

// `load_split(folder, split, tokenizer, options)` reads one split file.
template <typename Item, typename SplitLoader>
DataSplits<Item> load_data_splits(const TrainConfig& config, SplitLoader load_split) {
  const auto tokenizer = load_tokenizer(config.model);
  const DataOptions options = training_data_options(config);
  DataSplits<Item> splits;
  splits.train = load_split(config.data, "train", *tokenizer, options);
  splits.valid = load_split(config.data, "valid", *tokenizer, options);
  splits.has_test = config.test && std::filesystem::exists(std::filesystem::path(config.data) / "test.jsonl");
  if (splits.has_test) splits.test = load_split(config.data, "test", *tokenizer, options);
  return splits;
}

}  // namespace lorafarm::engine
