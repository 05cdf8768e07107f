// DPO experiments: each method's best trial's preference metrics (reward
// accuracy and margin, chosen and rejected rewards and log-probabilities,
// the DPO loss), as a table (Markdown, HTML, JSON). Trials trained with
// `train_mode: dpo` report them as val_* / test_* (docs/training.md).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "report/report.h"

namespace lorafarm::report {

struct PreferenceRow {
  std::string method;
  std::int64_t trial = 0;
  std::vector<std::optional<double>> values;  // in preference_columns() order
};

// (metric name, column title) of the table.
const std::vector<std::pair<std::string, std::string>>& preference_columns();

// One row per method whose best trial reported val_reward_accuracy.
std::vector<PreferenceRow> preference_rows(const ReportData& data);

std::string preference_markdown(const std::vector<PreferenceRow>& rows);
std::string preference_html(const std::vector<PreferenceRow>& rows);
nlohmann::json preference_json(const std::vector<PreferenceRow>& rows);

}  // namespace lorafarm::report
