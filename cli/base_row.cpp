// Scores the untrained base model the way engine::train's final evaluation
// scores a trained one, and stores the row once per experiment.
#include "cli/base_row.h"

#include <cmath>
#include <iostream>

#include "engine/adapter_io.h"
#include "engine/dataset.h"
#include "engine/model_config.h"
#include "engine/tensor.h"
#include "engine/tokenizer.h"
#include "engine/trainer.h"
#include "worker/engine_trial_config.h"

namespace lorafarm::cli {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The trials' training config without any trial's parameters.
engine::TrainConfig fixed_train_config(const schema::SweepSpec& spec) {
  json config = worker::engine_trial_config(spec.fixed, json::object());
  config["model"] = spec.model;
  config["data"] = spec.data;
  return engine::TrainConfig::from_json(config);
}

json settings_json(const engine::TrainConfig& train, const engine::DataOptions& data, bool test_scored) {
  return {{"val_batches", "all"},
          {"test_batches", test_scored ? json(train.test_batches) : json(nullptr)},
          {"batch_size", train.batch_size},
          {"max_seq_length", data.max_seq_length},
          {"add_eos", data.add_eos},
          {"mask_prompt", data.mask_prompt}};
}

}  // namespace

bool is_preference_spec(const schema::SweepSpec& spec) {
  return spec.trial.kind == schema::TrialKind::Engine && fixed_train_config(spec).train_mode == "dpo";
}

std::int64_t model_parameter_count(const schema::SweepSpec& spec) { return engine::ModelConfig::load(spec.model).parameter_count(); }

schema::BaseScoresRecord score_base_model(const schema::SweepSpec& spec, int threads) {
  const auto train = fixed_train_config(spec);
  // An oversubscribed OpenMP team is slow on a busy machine; default to what the trials use.
  engine::set_num_threads(threads >= 0 ? threads : train.threads);
  const auto model_config = engine::ModelConfig::load(spec.model);
  const auto tokenizer = engine::load_tokenizer(spec.model);
  engine::DataOptions data;
  data.max_seq_length = std::min(train.max_seq_length, model_config.max_position_embeddings);
  data.mask_prompt = train.mask_prompt;
  data.add_eos = train.add_eos;
  data.chat_format = engine::load_chat_format(spec.model);
  // A rank-1 LoRA on one block: B starts at zero, so its output is the base model's exactly.
  engine::AdapterConfig adapter;
  adapter.type = engine::FineTuneType::kLora;
  adapter.rank = 1;
  adapter.num_layers = 1;
  const engine::TrainableModel tm = engine::load_trainable_model(spec.model, adapter, train.seed);

  schema::BaseScoresRecord out;
  const auto valid = engine::load_split(spec.data, "valid", *tokenizer, data);
  out.val_loss = engine::evaluate_loss(tm, valid, train.batch_size, -1).loss;
  out.val_ppl = std::exp(out.val_loss);
  const bool test = train.test && fs::exists(fs::path(spec.data) / "test.jsonl");
  if (test) {
    const auto test_set = engine::load_split(spec.data, "test", *tokenizer, data);
    out.test_loss = engine::evaluate_loss(tm, test_set, train.batch_size, train.test_batches).loss;
    out.test_ppl = std::exp(*out.test_loss);
  }
  out.model_parameters = model_config.parameter_count();
  out.settings = settings_json(train, data, test);
  out.computed_at = schema::unix_now();
  return out;
}

void store_base_row_once(const fs::path& db, std::int64_t experiment_id, const schema::SweepSpec& spec, bool quiet) {
  if (spec.trial.kind != schema::TrialKind::Engine) return;
  try {
    if (is_preference_spec(spec)) return;  // the base is DPO's reference: nothing to score
    auto store = schema::Store::open_writer(db);
    if (store.base_scores(experiment_id)) return;
    if (!quiet) std::cerr << "scoring the untrained base model (the report's reference row)..." << std::endl;
    auto scores = score_base_model(spec);
    scores.experiment_id = experiment_id;
    store.insert_base_scores(scores);
  } catch (const std::exception& e) {
    std::cerr << "warning: the base model's reference row was not scored: " << e.what() << "\n";
  }
}

}  // namespace lorafarm::cli
