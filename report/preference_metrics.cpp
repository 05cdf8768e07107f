// Each method's DPO metrics, as table rows (report/preference_metrics.h).
#include "report/preference_metrics.h"

#include "report/svg_plot.h"
#include "report/text_table.h"

namespace lorafarm::report {
namespace {

std::string value_cell(const std::optional<double>& v) { return v ? svg::format_number(*v, 4) : "–"; }

std::vector<std::string> header() {
  std::vector<std::string> h{"method", "best trial"};
  for (const auto& [metric, title] : preference_columns()) h.push_back(title);
  return h;
}

std::vector<std::string> cells(const PreferenceRow& row) {
  std::vector<std::string> out{row.method, std::to_string(row.trial)};
  for (const auto& v : row.values) out.push_back(value_cell(v));
  return out;
}

constexpr const char* kNote =
    "DPO (Rafailov et al., 2023) on the validation split unless marked test. Rewards are β·(log π − log π_ref) of a "
    "completion; reward accuracy is the share of pairs whose chosen completion gets the larger reward (a tie counts "
    "half), the margin the mean of chosen minus rejected reward; log-probabilities are the policy's, summed over "
    "completion tokens (per-token means with the IPO loss).";

TextTable preference_table(const std::vector<PreferenceRow>& rows) {
  TextTable table{"Preference metrics (DPO), best trial per method", "preference", header(), {}, kNote};
  for (const auto& row : rows) table.rows.push_back(cells(row));
  return table;
}

}  // namespace

const std::vector<std::pair<std::string, std::string>>& preference_columns() {
  static const std::vector<std::pair<std::string, std::string>> columns = {
      {"val_reward_accuracy", "reward accuracy"}, {"val_reward_margin", "reward margin"},
      {"val_rewards_chosen", "reward chosen"},    {"val_rewards_rejected", "reward rejected"},
      {"val_logps_chosen", "logp chosen"},        {"val_logps_rejected", "logp rejected"},
      {"val_dpo_loss", "DPO loss"},               {"test_reward_accuracy", "test reward accuracy"}};
  return columns;
}

std::vector<PreferenceRow> preference_rows(const ReportData& data) {
  std::vector<PreferenceRow> rows;
  for (const auto& m : data.methods) {
    if (!m.best) continue;
    const ReportTrial& best = data.trials[*m.best];
    if (!best.metric("val_reward_accuracy")) continue;
    PreferenceRow row{m.method, best.trial.number, {}};
    for (const auto& [metric, title] : preference_columns()) row.values.push_back(best.metric(metric));
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string preference_markdown(const std::vector<PreferenceRow>& rows) {
  return text_table_markdown(preference_table(rows));
}

std::string preference_html(const std::vector<PreferenceRow>& rows) {
  return text_table_html(preference_table(rows));
}

nlohmann::json preference_json(const std::vector<PreferenceRow>& rows) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& row : rows) {
    nlohmann::json item{{"method", row.method}, {"trial", row.trial}};
    for (std::size_t i = 0; i < row.values.size(); ++i) {
      item[preference_columns()[i].first] = row.values[i] ? nlohmann::json(*row.values[i]) : nlohmann::json(nullptr);
    }
    out.push_back(std::move(item));
  }
  return out;
}

}  // namespace lorafarm::report
