// The base-model reference row: the untrained model scored with the engine
// exactly as an engine trial's final evaluation scores its trained model.
// `lorafarm sweep` stores it once per experiment (schema::Store::base_scores);
// `lorafarm report` scores it without storing only for databases that have none.
#pragma once

#include <filesystem>

#include "schema/store.h"
#include "schema/sweep_spec.h"

namespace lorafarm::cli {

// The parameter count of the spec's model (from its config.json).
std::int64_t model_parameter_count(const schema::SweepSpec& spec);

// Whether the spec's trials train with DPO (fixed `train_mode: dpo`): their
// reference is the base model itself, whose rewards are 0 by definition, so
// such an experiment has no base-model row.
bool is_preference_spec(const schema::SweepSpec& spec);
inline constexpr const char* kPreferenceBaseNote =
    "No base-model row: in a DPO experiment the base model is the reference, so its rewards are 0 by definition "
    "(reward accuracy 0.5, DPO loss log 2).";

// Scores spec.model on spec.data with the spec's fixed settings: the whole
// validation split, test_batches of the test split (if it exists and `test`
// is on), the trials' batch size, sequence cut (capped at the model's
// context), EOS and prompt masking. `threads` < 0: the spec's fixed.threads.
schema::BaseScoresRecord score_base_model(const schema::SweepSpec& spec, int threads = -1);

// For an engine sweep whose experiment has no stored base row: scores it and
// stores it in `db`. A failure is reported on stderr and leaves the row out
// (a later `lorafarm report` says so); it never stops the sweep.
void store_base_row_once(const std::filesystem::path& db, std::int64_t experiment_id, const schema::SweepSpec& spec, bool quiet);

}  // namespace lorafarm::cli
