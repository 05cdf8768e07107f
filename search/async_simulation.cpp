// The event loop of the simulated asynchronous workers.
#include "search/async_simulation.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <queue>
#include <stdexcept>
#include <utility>

namespace lorafarm::search {
namespace {

// (finish time, trial number): the earliest finish first, ties to the lower trial.
using Event = std::pair<double, int>;
using EventQueue = std::priority_queue<Event, std::vector<Event>, std::greater<>>;

}  // namespace

std::vector<double> AsyncSimulation::best_after_completions() const {
  std::vector<double> best;
  double b = std::numeric_limits<double>::infinity();
  for (const int t : completion_order) {
    b = std::min(b, history[static_cast<std::size_t>(t)].objectives.front());
    best.push_back(b);
  }
  return best;
}

AsyncSimulation simulate_async(Sampler& sampler, const AsyncSimulationOptions& options,
                               const std::function<double(const Params&)>& objective,
                               const std::function<double(int, const Params&)>& duration) {
  if (options.workers < 1 || options.trials < 1)
    throw std::invalid_argument("simulate_async: workers and trials must be positive");
  AsyncSimulation run;
  EventQueue running;
  const auto start = [&](double now) {
    std::vector<int> pending;
    for (const auto& o : run.history)
      if (o.status == ObservationStatus::Running) pending.push_back(static_cast<int>(o.trial_number));
    run.running_at_proposal.push_back(std::move(pending));
    const auto t0 = std::chrono::steady_clock::now();
    auto params = sampler.suggest(1, run.history);
    run.suggest_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (params.empty()) throw std::runtime_error("simulate_async: the sampler proposed no trial");
    Observation o;
    o.trial_number = static_cast<std::int64_t>(run.history.size());
    o.params = std::move(params.front());
    const int trial = static_cast<int>(o.trial_number);
    running.emplace(now + duration(trial, o.params), trial);
    run.history.push_back(std::move(o));
  };
  // The workers start one after another at time 0, each asked with the earlier ones running.
  for (int w = 0; w < std::min(options.workers, options.trials); ++w) start(0.0);
  while (!running.empty()) {
    const auto [now, trial] = running.top();
    running.pop();
    Observation& o = run.history[static_cast<std::size_t>(trial)];
    o.objectives = {objective(o.params)};
    o.status = ObservationStatus::Completed;
    sampler.tell(o);
    run.completion_order.push_back(trial);
    if (static_cast<int>(run.history.size()) < options.trials) start(now);
  }
  return run;
}

}  // namespace lorafarm::search
