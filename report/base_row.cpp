// The base-model reference row as the report and the dashboard read it: once
// scored and stored per experiment by `lorafarm sweep`, never re-evaluated here.
#include "report/recorded_spec.h"
#include "report/report.h"

namespace lorafarm::report {

using nlohmann::json;

namespace {
json optional_json(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }
}  // namespace

json base_row_json(const schema::BaseScoresRecord& base) {
  return {{"val_loss", base.val_loss},
          {"val_ppl", base.val_ppl},
          {"test_loss", optional_json(base.test_loss)},
          {"test_ppl", optional_json(base.test_ppl)},
          {"model_parameters", base.model_parameters ? json(*base.model_parameters) : json(nullptr)},
          {"settings", base.settings}};
}

ReportContext stored_report_context(schema::Store& store, const schema::ExperimentRecord& experiment) {
  ReportContext context;
  if (auto base = store.base_scores(experiment.id)) {
    context.model_parameters = base->model_parameters;
    context.base = std::move(base);
    return context;
  }
  std::string error;
  const auto spec = try_recorded_spec(store, experiment, error);
  if (!spec) context.note = "No base-model row: " + error + ".";
  else if (spec->trial.kind != schema::TrialKind::Engine) context.note = "No base-model row: the experiment's trials are not engine trials.";
  else context.note = "No base-model row stored yet (lorafarm sweep scores it when the experiment starts; `lorafarm report` can score it).";
  return context;
}

}  // namespace lorafarm::report
