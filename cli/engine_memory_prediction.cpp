// Engine trials' predicted peak memory for the coordinator's placement.
#include "cli/engine_memory_prediction.h"

#include <algorithm>
#include <memory>

#include "engine/memory.h"
#include "engine/model_config.h"
#include "engine/trainer.h"
#include "worker/engine_trial_config.h"

namespace lorafarm::cli {

std::function<std::optional<double>(const nlohmann::json&)> engine_peak_predictor(const schema::SweepSpec& spec) {
  if (spec.trial.kind != schema::TrialKind::Engine) return {};
  // Loaded once: every trial of the sweep trains the same model.
  auto model = std::make_shared<const engine::ModelConfig>(engine::ModelConfig::load(spec.model));
  nlohmann::json base = spec.fixed;  // what the ASSIGN's config holds (coordinator/assignment.cpp)
  base["model"] = spec.model;
  base["data"] = spec.data;
  return [model, base](const nlohmann::json& params) -> std::optional<double> {
    // The same merge the worker makes before `lorafarm train --config`.
    const auto config = engine::TrainConfig::from_json(worker::engine_trial_config(base, params));
    const int length = std::min(config.max_seq_length, model->max_position_embeddings);
    // DPO: a micro-batch holds a chosen and a rejected sequence per pair, and
    // full fine-tuning keeps a frozen copy of the base as its reference.
    const bool dpo = config.train_mode == "dpo";
    const engine::TrainShape shape{config.batch_size * (dpo ? 2 : 1), length, config.grad_checkpoint};
    auto tally = engine::estimate_training_memory(*model, config.adapter, shape);
    if (dpo && config.adapter.type == engine::FineTuneType::kFull) tally.reference_model = tally.base_weights;
    return engine::predicted_peak_rss_mb(tally);
  };
}

}  // namespace lorafarm::cli
