// Engine trials' predicted peak memory for the coordinator's placement.
#include "cli/engine_memory_prediction.h"

#include <algorithm>
#include <memory>

#include "engine/batch_sizing.h"
#include "engine/memory.h"
#include "engine/model_config.h"
#include "engine/trainer.h"
#include "worker/engine_trial_config.h"

namespace lorafarm::cli {

std::function<std::optional<double>(const nlohmann::json&)> engine_peak_predictor(const schema::SweepSpec& spec) {
  if (spec.trial.kind != schema::TrialKind::Engine) return {};
  // Loaded once: every trial of the sweep trains the same model.
  auto model = std::make_shared<const engine::ModelConfig>(engine::ModelConfig::load(spec.model));
  const int value_bytes = engine::checkpoint_value_bytes(spec.model);
  nlohmann::json base = spec.fixed;  // what the ASSIGN's config holds (coordinator/assignment.cpp)
  base["model"] = spec.model;
  base["data"] = spec.data;
  return [model, base, value_bytes](const nlohmann::json& params) -> std::optional<double> {
    // The same merge the worker makes before `lorafarm train --config`.
    const auto config = engine::TrainConfig::from_json(worker::engine_trial_config(base, params));
    const int length = std::min(config.max_seq_length, model->max_position_embeddings);
    // batch_size auto needs at least what one sequence a micro-batch needs.
    const int micro = config.auto_batch_size ? 1 : config.batch_size;
    return engine::predicted_peak_rss_mb(engine::predict_training_tally(config, *model, value_bytes, length, micro));
  };
}

}  // namespace lorafarm::cli
