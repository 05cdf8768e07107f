// The sweep spec: one JSON file (comments allowed) that says what to search,
// how trials run and how much to spend. docs/sweep-spec.md is its user guide.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "schema/error.h"
#include "schema/metric_collectors.h"
#include "schema/trial_resources.h"
#include "schema/trial_preset.h"
#include "search/search_space.h"

namespace lorafarm::schema {

struct Objective {
  std::string metric = "val_loss";
  bool maximize = false;
  // The value samplers minimise.
  double minimised(double value) const { return maximize ? -value : value; }
};

// `metric op bound`, e.g. "peak_rss_mb <= 4096".
struct Constraint {
  std::string metric;
  std::string op;  // "<=", "<", ">=", ">"
  double bound = 0.0;
  bool satisfied(double value) const;
  // <= 0 when satisfied (the form samplers get).
  double violation(double value) const;
  std::string to_string() const;
};

struct Budget {
  std::int64_t trials = 0;      // how many trials to create in total
  int parallel = 0;             // most trials running at once; 0 = as many as workers offer
  int max_attempts = 3;         // attempts per trial before it is LOST for good
  // Deadline: either a local clock time "HH:MM" (the next such moment after the
  // sweep starts) or a number of hours after the sweep starts.
  std::optional<std::string> deadline_clock;
  std::optional<double> deadline_hours;
  bool retry_failed = false;    // also re-run FAILED attempts (not only LOST ones)
};

// Early stopping of running trials on an intermediate metric (ASHA). Steps are
// whatever the trial reports as "step" (iterations for engine trials).
struct SchedulerSpec {
  std::string type = "none";  // "none" | "asha"
  std::string metric;         // intermediate metric judged; default the objective's
  bool maximize = false;      // its direction (the objective's when the same metric)
  double min_resource = 1;    // steps before the first decision
  double max_resource = 0;    // a trial's full budget in steps
  double reduction_factor = 3;
  int brackets = 1;
};

enum class TrialKind { Engine, Command };

struct TrialSpec {
  TrialKind kind = TrialKind::Command;
  // Command trials: argv template; "{name}" is replaced by the parameter value
  // (also {trial}, {seed}, {trial_dir}, {spec_dir}). A single string is run by
  // /bin/sh -c with values shell-quoted.
  std::vector<std::string> command;
  bool shell = false;
  double timeout_seconds = 0.0;      // 0 = no limit
  std::map<std::string, std::string> env;
  // Command trials: `metrics`, the collectors of their numbers; absent, the
  // trial speaks lorafarm's JSON lines and its final line is the result.
  std::optional<MetricsSpec> metrics;
  // What each trial needs of a worker (placement: coordinator/placement.h).
  ResourceRequest resources;
  // "kind": "mlx_lm" | "hf_trainer": a command trial whose command line,
  // config file and collectors the preset writes (schema/trial_preset.h).
  std::optional<TrialPreset> preset;
  // A trial the scheduler stops (or a cancelled one) gets SIGTERM, then
  // SIGKILL after this many seconds if it is still running.
  double stop_grace_seconds = kDefaultStopGraceSeconds;
  static constexpr double kDefaultStopGraceSeconds = 10.0;
};

struct SweepSpec {
  std::string name;
  std::uint64_t seed = 0;
  std::string model;  // engine trials: model folder (absolute after parsing)
  std::string data;   // engine trials: data folder (absolute after parsing)
  Objective objective;  // the primary objective: `best`, ASHA and rank selection use it
  // Multi-objective sweeps ("objectives": [first, second, (third)]): the
  // objectives after the first. Samplers get all of them (the GP sampler
  // scalarises them with ParEGO); summaries report the Pareto front.
  std::vector<Objective> more_objectives;
  std::vector<Constraint> constraints;
  Budget budget;
  std::string algorithm = "random";
  nlohmann::json algorithm_options = nlohmann::json::object();
  // search.enqueue: configurations to try first (any algorithm), in order.
  std::vector<search::Params> enqueue;
  // search.warm_start (gp): finished trials of this experiment in the same
  // database are modelled as if they were this one's.
  std::optional<std::string> warm_start;
  int initial_trials = 0;  // search.initial_trials (gp, bohb: Sobol design size; tpe: random start); 0 = automatic
  SchedulerSpec scheduler;
  // Dynamic-rank trials: the objective is taken at the smallest rank whose
  // `<metric>@rN` is within this of the best (coordinator/rank_selection.h).
  std::optional<double> rank_epsilon;
  search::SearchSpace space;
  nlohmann::json fixed = nlohmann::json::object();
  TrialSpec trial;
  std::filesystem::path spec_dir;  // folder of the spec file; relative paths resolve against it
  nlohmann::json document;         // the spec as written (comments stripped)

  // SHA-256 of the canonical JSON of everything that defines the trials (the
  // whole document except "budget"): a resumed sweep must match it.
  std::string hash() const;
  // Memory limit from a "peak_rss_mb <= X" constraint, if any (the worker enforces it).
  std::optional<double> memory_limit_mb() const;
};

// Known sampler names (validation); the coordinator maps them to samplers.
const std::vector<std::string>& known_algorithms();

// Parses and validates; `source` names the file in messages. Throws SpecError.
SweepSpec parse_sweep_spec(std::string_view text, const std::filesystem::path& spec_dir, std::string_view source = "spec");
SweepSpec load_sweep_spec(const std::filesystem::path& path);

}  // namespace lorafarm::schema
