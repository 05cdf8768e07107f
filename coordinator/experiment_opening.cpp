// Opening an experiment: create it in the store, or resume it (same spec hash),
// then rebuild what lives in memory: the trials, the sampler (with any warm
// start), ASHA's rungs, and the leases of trials that were running.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <thread>

#include "coordinator/coordinator_state.h"
#include "coordinator/sampler_factory.h"
#include "lorafarm/version.h"

namespace lorafarm::coordinator {

using nlohmann::json;

namespace {

std::string host_name() {
  char buffer[256] = {};
  ::gethostname(buffer, sizeof buffer - 1);
  return buffer;
}

// Seconds from now until the deadline the budget sets, if any.
std::optional<double> seconds_to_deadline(const schema::Budget& budget) {
  if (budget.deadline_hours) return *budget.deadline_hours * 3600.0;
  if (!budget.deadline_clock) return std::nullopt;
  const int hh = std::stoi(budget.deadline_clock->substr(0, budget.deadline_clock->find(':')));
  const int mm = std::stoi(budget.deadline_clock->substr(budget.deadline_clock->find(':') + 1));
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  ::localtime_r(&now, &local);
  std::tm target = local;
  target.tm_hour = hh;
  target.tm_min = mm;
  target.tm_sec = 0;
  std::time_t when = std::mktime(&target);
  if (when <= now) when += 24 * 3600;
  return static_cast<double>(when - now);
}

}  // namespace

void Coordinator::State::open_experiment() {
  const double now = schema::unix_now();
  store.begin();
  if (auto existing = store.find_experiment(spec.name)) {
    resume_experiment(*existing, now);
  } else {
    create_experiment(now);
  }
  trials = std::make_unique<TrialLifecycle>(store, experiment.id, spec);
  trials->load();
  start_sampler(warm_start_history(now));
  scheduler = std::make_unique<EarlyStopping>(spec.scheduler);
  if (scheduler->enabled()) replay_scheduler();
  const double steady = steady_now();
  restore_running_leases(steady);
  store.commit();
  if (const auto d = seconds_to_deadline(spec.budget)) deadline = steady + *d;
}

void Coordinator::State::resume_experiment(const schema::ExperimentRecord& existing, double now) {
  if (existing.spec_hash != spec.hash()) {
    throw std::runtime_error("experiment '" + spec.name + "' in " + options.db_path.string() +
                             " was created from a different spec (hash " + existing.spec_hash.substr(0, 12) + ", this spec " +
                             spec.hash().substr(0, 12) + "); rename the experiment or use another --db");
  }
  experiment = existing;
  resumed = true;
  const auto max_trials = std::max<std::int64_t>(existing.max_trials, spec.budget.trials) + options.extend_budget;
  if (max_trials != existing.max_trials) store.update_experiment_max_trials(experiment.id, max_trials);
  experiment.max_trials = max_trials;
  store.update_experiment_status(experiment.id, "RUNNING", std::nullopt);
  store.insert_event(experiment.id, std::nullopt, std::nullopt, "RESUMED",
                     {{"max_trials", max_trials}, {"extend_budget", options.extend_budget}, {"pid", ::getpid()},
                      {"spec_dir", spec.spec_dir.string()}},
                     now);
}

void Coordinator::State::create_experiment(double now) {
  if (options.extend_budget > 0) spdlog::info("--extend-budget applies to a resumed experiment; '{}' is new", spec.name);
  experiment.name = spec.name;
  experiment.spec_json = spec.document.dump(2);
  experiment.spec_hash = spec.hash();
  experiment.seed = spec.seed;
  experiment.lorafarm_version = kVersion;
  experiment.git_commit = kGitCommit;
  experiment.host = host_name();
  experiment.threads = static_cast<int>(std::thread::hardware_concurrency());
  experiment.max_trials = spec.budget.trials + options.extend_budget;
  experiment.created_at = now;
  experiment.id = store.insert_experiment(experiment);
  store.insert_event(experiment.id, std::nullopt, std::nullopt, "CREATED",
                     {{"spec_hash", experiment.spec_hash}, {"pid", ::getpid()}, {"spec_dir", spec.spec_dir.string()}}, now);
}

// The finished trials of the experiment `search.warm_start` names, if any.
std::vector<search::Observation> Coordinator::State::warm_start_history(double now) {
  if (!spec.warm_start) return {};
  const auto previous = store.find_experiment(*spec.warm_start);
  if (!previous) {
    throw schema::SpecError("search.warm_start: there is no experiment '" + *spec.warm_start + "' in " + options.db_path.string() +
                            " (warm starts read another experiment of the same database)");
  }
  int left_out = 0;
  auto warm = warm_start_observations(store, *previous, spec, left_out);
  spdlog::info("warm start: {} finished trial(s) of '{}'{}", warm.size(), *spec.warm_start,
               left_out ? fmt::format(", {} left out (parameters outside this space or objectives missing)", left_out) : "");
  store.insert_event(experiment.id, std::nullopt, std::nullopt, "WARM_START",
                     {{"experiment", *spec.warm_start}, {"trials", warm.size()}, {"left_out", left_out}}, now);
  return warm;
}

// The sampler, told every trial that already finished.
void Coordinator::State::start_sampler(std::vector<search::Observation> warm) {
  sampler = std::make_unique<SuggestionThread>(make_sampler(spec, std::move(warm)));
  for (const auto& o : trials->observations())
    if (o.status != search::ObservationStatus::Running) sampler->tell(o);
}

// The rungs of ASHA live in memory: a resumed sweep rebuilds them from the
// stored learning curves, in trial order.
void Coordinator::State::replay_scheduler() {
  for (std::int64_t n = 0; n < trials->size(); ++n) {
    const auto& t = trials->trial(n);
    if (t.status == schema::TrialStatus::Queued) continue;
    for (const auto& m : store.metrics(t.id))
      if (m.name == scheduler->metric() && m.value && m.attempt == t.attempt) scheduler->replay(n, m.step, *m.value);
  }
}

// Trials that were running when the last coordinator stopped: their workers
// get a grace period to reconnect and claim them.
void Coordinator::State::restore_running_leases(double steady) {
  const double grace = options.resume_grace_seconds > 0 ? options.resume_grace_seconds : 2 * lease_timeout();
  for (std::int64_t n = 0; n < trials->size(); ++n) {
    const auto& t = trials->trial(n);
    if (t.status != schema::TrialStatus::Running) continue;
    auto& w = leases.worker(t.worker);
    w.last_heard = steady + grace - lease_timeout();
    leases.grant(t.worker, n, t.attempt);
  }
  restore_allocations();
}

}  // namespace lorafarm::coordinator
