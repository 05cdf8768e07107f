// The dashboard's read-only JSON views of the store: what /api/experiments...
// answer. Pure functions of a Store, so tests and scripts get the same numbers
// the page shows. docs/dashboard.md lists every field.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "schema/store.h"
#include "schema/sweep_spec.h"

namespace lorafarm::dashboard {

// A request the API cannot answer as asked; `status` is the HTTP status
// (400 bad input, 401/403 token, 404 unknown name, 413 too big).
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, const std::string& message) : std::runtime_error(message), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

// Every experiment with its status, trial counts per status and best objective.
nlohmann::json experiments_json(schema::Store& store);
// One experiment: the list entry plus its spec. Throws ApiError(404).
nlohmann::json experiment_json(schema::Store& store, std::string_view name);
// Every trial: status, parameters, progress (latest step / planned steps),
// objective, error, final result.
nlohmann::json trials_json(schema::Store& store, std::string_view name);
// One trial's learning curves of its current attempt: {metric: [[step, value], ...]}.
nlohmann::json trial_metrics_json(schema::Store& store, std::string_view name, std::int64_t number);
// One metric's curve for every trial (the page's learning-curve plot):
// {"metric": m, "curves": [{"trial": n, "points": [[step, value], ...]}, ...]}.
nlohmann::json curves_json(schema::Store& store, std::string_view name, std::string_view metric);
// The method comparison (report/summary.h's to_json) plus "base": the base
// model's reference row as `lorafarm sweep` stored it (report::base_row_json), or null.
nlohmann::json summary_json(schema::Store& store, std::string_view name);
// One trial's artifact files as recorded by its worker.
nlohmann::json artifacts_json(schema::Store& store, std::string_view name, std::int64_t number);

// Planned steps of a trial: its `iters`/`steps` parameter, else the spec's
// fixed `iters`/`steps`, else the scheduler's max_resource; 0 when
// unknown (also when `spec` is null: a stored spec this lorafarm cannot parse).
std::int64_t planned_steps(const schema::SweepSpec* spec, const nlohmann::json& params);

}  // namespace lorafarm::dashboard
