// The next-token objective (train_mode "sft"): mean cross-entropy over the
// target tokens of the data folder's samples, validated as loss and
// perplexity (at every rank of the ladder with dynamic_rank).
#pragma once

#include <memory>

#include "engine/training_objective.h"

namespace lorafarm::engine {

// Tokenizes the config's data folder (train, valid, and test when asked for
// and present) for `model`.
std::unique_ptr<TrainingObjective> make_next_token_objective(const TrainConfig& config, TrainableModel& model);

}  // namespace lorafarm::engine
