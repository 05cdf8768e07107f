// The multi-fidelity benchmark: each method runs sequentially on a LoRA table
// until it has spent the largest budget of training; a configuration's curve is
// the curve of its nearest stored configuration (search/tabular_benchmark.h),
// and regret is the best final value found minus the table's best.
#include "bench/multi_fidelity_mode.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <numeric>
#include <stdexcept>

#include "search/gp_sampler.h"
#include "search/benchmark_stats.h"
#include "search/multi_fidelity_run.h"
#include "search/multi_fidelity_sampler.h"
#include "search/random_sampler.h"
#include "search/tabular_benchmark.h"

namespace lorafarm::bench {
namespace {

using namespace lorafarm::search;

struct Method {
  std::unique_ptr<Sampler> sampler;
  std::optional<Asha> pruner;
};

Method make_method(const std::string& name, const TabularBenchmark& table, std::uint64_t seed,
                   const AshaOptions& asha, const MultiFidelityArgs& args) {
  if (name == "gp_full") return {std::make_unique<GpSampler>(table.space(), seed), std::nullopt};
  if (name == "gp_asha") return {std::make_unique<GpSampler>(table.space(), seed), Asha(asha)};
  if (name == "asha_random") return {std::make_unique<RandomSampler>(table.space(), seed), Asha(asha)};
  if (name == "bohb") {
    MultiFidelityOptions options;
    options.budgets = Asha(asha).rungs(0);
    options.budgets.push_back(asha.max_resource);
    options.random_fraction = args.random_fraction;
    options.min_points = args.min_points;
    options.stopped = args.stopped == "exclude" ? StoppedTrials::Exclude
                      : args.stopped == "last"  ? StoppedTrials::LastValue
                                                : StoppedTrials::Shifted;
    return {std::make_unique<MultiFidelitySampler>(table.space(), seed, options), Asha(asha)};
  }
  throw std::invalid_argument("unknown method " + name + " (choices: bohb, asha_random, gp_full, gp_asha)");
}

// The curve of the nearest stored configuration.
CurveOf table_curve(const TabularBenchmark& table) {
  return [&table](const Params& p) {
    table.space().validate(p);  // a sampler must never propose an invalid configuration
    return table.lookup(p).curve;
  };
}

nlohmann::json problem_results(const std::string& problem, const MultiFidelityArgs& args) {
  const auto table = TabularBenchmark::load(args.tables + "/lora_table_" + problem.substr(5) + ".json");
  const auto& curve0 = table.entries().front().curve;
  if (curve0.size() < 2) throw std::runtime_error(problem + ": the table's entries carry no learning curves");
  const double full = static_cast<double>(curve0.back().step);
  const AshaOptions asha{static_cast<double>(curve0.front().step), full, args.reduction_factor, 1};
  const double max_cost = full * *std::max_element(args.budgets.begin(), args.budgets.end());
  nlohmann::json out = nlohmann::json::array();
  std::vector<nlohmann::json> per_budget(args.budgets.size(), nlohmann::json::object());
  for (const auto& method : args.methods) {
    std::vector<std::vector<double>> regrets(args.budgets.size());
    std::vector<double> trials;
    for (int seed = 0; seed < args.seeds; ++seed) {
      Method m = make_method(method, table, static_cast<std::uint64_t>(seed), asha, args);
      const FidelityRun run = run_with_pruner(*m.sampler, m.pruner, table_curve(table), max_cost);
      for (std::size_t k = 0; k < args.budgets.size(); ++k)
        regrets[k].push_back(best_final_within(run, full * args.budgets[k]) - table.minimum());
      trials.push_back(static_cast<double>(run.history.size()));
      std::fprintf(stderr, "%s %s seed %d: regret %.5f, %zu trials, %zu completed\n", problem.c_str(), method.c_str(),
                   seed, regrets.back().back(), run.history.size(), run.completions.size());
    }
    for (std::size_t k = 0; k < args.budgets.size(); ++k) {
      std::vector<double> logs;
      for (double r : regrets[k]) logs.push_back(std::log10(std::max(r, 1e-12)));
      const auto at_best = std::count(regrets[k].begin(), regrets[k].end(), 0.0);
      per_budget[k][method] = {{"median_regret", quantile(regrets[k], 0.5)},
                               {"mean_regret", std::accumulate(regrets[k].begin(), regrets[k].end(), 0.0) / args.seeds},
                               {"seeds_at_table_best", at_best},
                               {"q25", quantile(regrets[k], 0.25)},
                               {"q75", quantile(regrets[k], 0.75)},
                               {"median_log10_regret", quantile(logs, 0.5)},
                               {"median_trials_in_run", quantile(trials, 0.5)},
                               {"regrets", regrets[k]}};
    }
  }
  for (std::size_t k = 0; k < args.budgets.size(); ++k) {
    nlohmann::json versus = nlohmann::json::object();  // > 0.5: bohb's regret is lower
    if (per_budget[k].contains("bohb"))
      for (const auto& [method, r] : per_budget[k].items())
        if (method != "bohb")
          versus[method] = vargha_delaney_a12(per_budget[k]["bohb"]["regrets"].get<std::vector<double>>(), r["regrets"].get<std::vector<double>>());
    out.push_back({{"problem", problem},
                   {"budget_full_trials", args.budgets[k]},
                   {"budget_iterations", full * args.budgets[k]},
                   {"minimum", table.minimum()},
                   {"methods", per_budget[k]},
                   {"a12_bohb_vs", versus}});
  }
  return out;
}

}  // namespace

nlohmann::json multi_fidelity(const MultiFidelityArgs& args) {
  nlohmann::json out = {{"mode", "multi_fidelity"},
                        {"seeds", args.seeds},
                        {"reduction_factor", args.reduction_factor},
                        {"random_fraction", args.random_fraction},
                        {"stopped", args.stopped},
                        {"min_points", args.min_points},
                        {"results", nlohmann::json::array()}};
  for (const auto& problem : args.problems) {
    if (problem.rfind("lora_", 0) != 0) throw std::invalid_argument("--multi-fidelity runs the LoRA tables only, not " + problem);
    for (auto& r : problem_results(problem, args)) out["results"].push_back(std::move(r));
  }
  return out;
}

}  // namespace lorafarm::bench
