// One lookup for a trial's metric, shared by everything that reads one: the
// worker (is the objective there?), the coordinator (objectives, constraints,
// ASHA), the report, the summary and the dashboard (docs/sweep-spec.md,
// "Where a metric comes from").
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace lorafarm::schema {

// What the worker measured of a trial's process, outside the trial's code.
struct WorkerMeasurements {
  std::optional<double> peak_rss_mb;   // wait4's ru_maxrss of the trial process, in MB
  std::optional<double> wall_seconds;  // the worker's clock from spawn to exit
};

// True for the names the worker measures itself: "peak_rss_mb", "wall_seconds".
bool is_worker_measured(std::string_view name);

// The name under which a number a trial printed is stored: its own name,
// except that a trial's own figure for a worker-measured name is kept as
// "reported_<name>" (the engine prints its getrusage peak as peak_rss_mb),
// so that `peak_rss_mb` always means the worker's wait4 measurement.
std::string stored_metric_name(std::string_view printed);

// The value of `name` for a trial. Precedence:
//  1. a worker-measured name comes from `measured`, whatever the trial printed
//     (the trial's own figure stays in `reported`, unused by this lookup);
//  2. any other name is the number the trial reported under that name;
//  3. otherwise nullopt.
std::optional<double> resolve_metric(std::string_view name, const nlohmann::json& reported, const WorkerMeasurements& measured);

// The same for intermediate (PROGRESS) reports, which carry no measurements.
std::optional<double> reported_metric(std::string_view name, const nlohmann::json& reported);

}  // namespace lorafarm::schema
