// Tokenization options of a training run (engine/data_splits.h).
#include "engine/data_splits.h"

#include <algorithm>

#include "engine/chat_format.h"
#include "engine/model_config.h"

namespace lorafarm::engine {

DataOptions training_data_options(const TrainConfig& config) {
  const ModelConfig model_config = ModelConfig::load(config.model);
  DataOptions options;
  options.max_seq_length = std::min(config.max_seq_length, model_config.max_position_embeddings);
  options.mask_prompt = config.mask_prompt;
  options.add_eos = config.add_eos;
  options.chat_format = load_chat_format(config.model);
  return options;
}

}  // namespace lorafarm::engine
