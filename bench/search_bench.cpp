// Search benchmark (issue 5, "must show" 1, 3 and 7): runs the GP sampler
// through the Sampler interface on standard test functions and prints JSON:
// median and IQR of the final log10 simple regret over seeds, and the suggest
// time per trial. scripts/optuna_baseline.py prints the same JSON for Optuna.
//
//   search_bench [--seeds N] [--functions branin,hartmann6] [--parallel K]
//                [--multi-objective] [--budget N]
//   search_bench --problems mixed_lora_like,lora_fortunes,lora_tinystories
//                [--budgets 30,60] [--sampler gp|random|tpe] [--tables DIR]
//                [--parallel N [--trial-cost equal|random] [--trace FILE]]
//   search_bench --multi-fidelity [--problems lora_fortunes,lora_tinystories]
//                [--budgets 30,60] [--eta 2] [--random-fraction R] [--stopped shifted|last|exclude]
//                [--min-points N] [--methods bohb,asha_random,gp_full,gp_asha]
//
// --problems runs the mixed spaces (issue 21): the synthetic mixed function
// and the tabular LoRA benchmarks of bench/data (nearest stored configuration,
// search/tabular_benchmark.h). Each seed runs to the largest budget and the
// regret is reported at every budget ("problem@budget"). With --parallel N > 1
// each seed also runs on N simulated asynchronous workers (one suggestion each
// time a worker frees, with the other N−1 trials pending; equal trial costs, or
// seeded log-normal ones) and both are printed: a list of two runs, sequential
// and parallel, the parallel results carrying the difference in decades and
// A12 against the sequential run at the same number of finished trials.
// --trace FILE appends every trial of both runs as a JSON line (seed, workers,
// trial, finishing rank, running trials at its proposal, configuration, value,
// regret); scripts/trace_at_best.py counts the seeds at the best from it.
//
// --multi-fidelity compares BOHB-style search with ASHA on random proposals and
// the GP at full budget at equal training spent (bench/multi_fidelity_mode.h);
// there --budgets counts full-budget trials' worth of training.
#include <Eigen/Core>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "search/async_simulation.h"
#include "search/benchmark_stats.h"
#include "bench/multi_fidelity_mode.h"
#include "search/gp_sampler.h"
#include "search/pareto.h"
#include "search/random_sampler.h"
#include "search/tpe_sampler.h"
#include "search/tabular_benchmark.h"
#include "search/test_functions.h"

using namespace lorafarm::search;

namespace {

struct Args {
  int seeds = 20;
  int first_seed = 0;  // --problems: seeds first_seed .. first_seed+seeds-1 (a held-out check)
  int parallel = 1;
  int budget = 0;  // 0: each function's own
  bool multi_objective = false;
  std::vector<std::string> functions;
  std::vector<std::string> problems;  // mixed spaces; when given, --functions is ignored
  std::vector<int> budgets = {30, 60};
  std::string sampler = "gp";
  std::string tables = LORAFARM_SOURCE_DIR "/bench/data";
  std::string trial_cost = "equal";  // --problems with --parallel: equal or random durations
  std::string trace;                 // --problems with --parallel: every trial as a JSON line
  bool multi_fidelity = false;
  lorafarm::bench::MultiFidelityArgs fidelity;  // its own options; seeds, problems, budgets, tables copied in
};

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string f; std::getline(ss, f, ',');) out.push_back(f);
  return out;
}

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "search_bench: " << why
            << "\nusage: search_bench [--seeds N] [--functions a,b] [--parallel K] [--multi-objective] [--budget N]\n"
               "       search_bench --problems mixed_lora_like,lora_fortunes,lora_tinystories [--budgets 30,60]\n"
               "                    [--sampler gp|random|tpe] [--tables DIR] [--seeds N] [--first-seed S]\n"
               "                    [--parallel N [--trial-cost equal|random] [--trace FILE]]\n"
               "       search_bench --multi-fidelity [--problems lora_fortunes,lora_tinystories] [--budgets 30,60]\n"
               "                    [--eta 2] [--random-fraction R] [--stopped shifted|last|exclude] [--min-points N] [--methods a,b] [--seeds N]\n";
  std::exit(2);
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string s = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(s + " needs a value");
      return argv[++i];
    };
    if (s == "--seeds") a.seeds = std::stoi(value());
    else if (s == "--first-seed") a.first_seed = std::stoi(value());
    else if (s == "--parallel") a.parallel = std::stoi(value());
    else if (s == "--budget") a.budget = std::stoi(value());
    else if (s == "--multi-objective") a.multi_objective = true;
    else if (s == "--functions") a.functions = split_list(value());
    else if (s == "--problems") a.problems = split_list(value());
    else if (s == "--sampler") a.sampler = value();
    else if (s == "--tables") a.tables = value();
    else if (s == "--trial-cost") a.trial_cost = value();
    else if (s == "--trace") a.trace = value();
    else if (s == "--multi-fidelity") a.multi_fidelity = true;
    else if (s == "--eta") a.fidelity.reduction_factor = std::stod(value());
    else if (s == "--random-fraction") a.fidelity.random_fraction = std::stod(value());
    else if (s == "--stopped") a.fidelity.stopped = value();
    else if (s == "--min-points") a.fidelity.min_points = std::stoi(value());
    else if (s == "--methods") a.fidelity.methods = split_list(value());
    else if (s == "--budgets") {
      a.budgets.clear();
      for (const auto& b : split_list(value())) a.budgets.push_back(std::stoi(b));
    } else usage("unknown argument " + s);
  }
  if (a.seeds < 1 || a.parallel < 1) usage("--seeds and --parallel must be positive");
  if (a.first_seed < 0) usage("--first-seed must be >= 0");
  if (a.sampler != "gp" && a.sampler != "random" && a.sampler != "tpe") usage("--sampler must be gp, random or tpe");
  if (a.trial_cost != "equal" && a.trial_cost != "random") usage("--trial-cost must be equal or random");
  if (a.budgets.empty() || *std::min_element(a.budgets.begin(), a.budgets.end()) < 1) usage("--budgets must be positive");
  return a;
}

SearchSpace box_space(const Eigen::VectorXd& lower, const Eigen::VectorXd& upper) {
  std::vector<Parameter> ps;
  for (Eigen::Index j = 0; j < lower.size(); ++j) {
    Parameter p;
    p.name = "x" + std::to_string(j);
    p.low = lower(j);
    p.high = upper(j);
    ps.push_back(p);
  }
  return SearchSpace(std::move(ps));
}

Eigen::VectorXd point_of(const Params& params, int dim) {
  Eigen::VectorXd x(dim);
  for (int j = 0; j < dim; ++j) x(j) = params.at("x" + std::to_string(j)).get<double>();
  return x;
}

struct Run {
  std::vector<Observation> history;
  double suggest_seconds = 0.0;
  int suggest_calls = 0;
  double min_unit_distance = std::numeric_limits<double>::infinity();
};

// Drives `sampler` for `budget` trials with `parallel` workers: each time a
// trial finishes (oldest first), its slot gets one new suggestion.
template <typename Evaluate>
Run drive(Sampler& sampler, int budget, int parallel, const Evaluate& evaluate, const Eigen::VectorXd& lower,
          const Eigen::VectorXd& upper) {
  Run run;
  std::vector<Eigen::VectorXd> unit_points;
  std::size_t next_to_finish = 0;
  const auto ask = [&](int n) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto params = sampler.suggest(n, run.history);
    run.suggest_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ++run.suggest_calls;
    for (const auto& p : params) {
      Observation o;
      o.trial_number = static_cast<std::int64_t>(run.history.size());
      o.params = p;
      const Eigen::VectorXd u =
          (point_of(p, static_cast<int>(lower.size())) - lower).cwiseQuotient(upper - lower);
      // Distinctness among concurrently running trials (and this batch).
      for (std::size_t i = next_to_finish; i < unit_points.size(); ++i)
        run.min_unit_distance = std::min(run.min_unit_distance, (unit_points[i] - u).norm());
      unit_points.push_back(u);
      run.history.push_back(std::move(o));
    }
  };
  const auto finish = [&](std::size_t i) {
    Observation& o = run.history[i];
    o.objectives = evaluate(point_of(o.params, static_cast<int>(lower.size())));
    o.status = ObservationStatus::Completed;
    sampler.tell(o);
  };
  ask(std::min(parallel, budget));
  while (static_cast<int>(run.history.size()) < budget) {
    finish(next_to_finish++);
    ask(1);
  }
  while (next_to_finish < run.history.size()) finish(next_to_finish++);
  return run;
}

nlohmann::json summary(const std::vector<double>& values, const std::string& key) {
  return {{"median_" + key, quantile(values, 0.5)},
          {"q25", quantile(values, 0.25)},
          {"q75", quantile(values, 0.75)},
          {"iqr", quantile(values, 0.75) - quantile(values, 0.25)}};
}

nlohmann::json single_objective(const Args& args) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& fn : benchmark_functions()) {
    if (!args.functions.empty() && std::find(args.functions.begin(), args.functions.end(), fn.name) == args.functions.end())
      continue;
    const int budget = args.budget > 0 ? args.budget : fn.budget;
    std::vector<double> regrets, ms_per_trial;
    double min_distance = std::numeric_limits<double>::infinity();
    for (int seed = 0; seed < args.seeds; ++seed) {
      GpSampler sampler(box_space(fn.lower, fn.upper), static_cast<std::uint64_t>(seed));
      const auto evaluate = [&](const Eigen::VectorXd& x) { return std::vector<double>{fn.f(x)}; };
      const Run run = drive(sampler, budget, args.parallel, evaluate, fn.lower, fn.upper);
      double best = std::numeric_limits<double>::infinity();
      for (const auto& o : run.history) best = std::min(best, o.objectives.front());
      regrets.push_back(std::log10(std::max(best - fn.minimum, 1e-12)));
      ms_per_trial.push_back(1e3 * run.suggest_seconds / budget);
      min_distance = std::min(min_distance, run.min_unit_distance);
      std::fprintf(stderr, "%s seed %d: log10 regret %.3f\n", fn.name.c_str(), seed, regrets.back());
    }
    nlohmann::json r = summary(regrets, "log10_regret");
    r["function"] = fn.name;
    r["dim"] = fn.dim();
    r["budget"] = budget;
    r["seeds"] = args.seeds;
    r["suggest_ms_per_trial"] = quantile(ms_per_trial, 0.5);
    r["min_running_unit_distance"] = min_distance;
    r["final_log10_regrets"] = regrets;
    out.push_back(r);
  }
  return out;
}

nlohmann::json multi_objective(const Args& args) {
  const int budget = args.budget > 0 ? args.budget : 50;
  const Eigen::VectorXd lower = Eigen::VectorXd::Zero(2), upper = Eigen::VectorXd::Ones(2);
  std::vector<double> volumes, ms_per_trial;
  for (int seed = 0; seed < args.seeds; ++seed) {
    GpSampler sampler(box_space(lower, upper), static_cast<std::uint64_t>(seed));
    const auto evaluate = [](const Eigen::VectorXd& x) {
      const Eigen::Vector2d f = branin_currin(Eigen::Vector2d(x(0), x(1)));
      return std::vector<double>{f(0), f(1)};
    };
    const Run run = drive(sampler, budget, args.parallel, evaluate, lower, upper);
    Eigen::MatrixXd f(budget, 2);
    for (int i = 0; i < budget; ++i) f.row(i) << run.history[i].objectives[0], run.history[i].objectives[1];
    volumes.push_back(hypervolume(f, branin_currin_reference()));
    ms_per_trial.push_back(1e3 * run.suggest_seconds / budget);
    std::fprintf(stderr, "branin_currin seed %d: hypervolume %.3f\n", seed, volumes.back());
  }
  nlohmann::json r = summary(volumes, "hypervolume");
  r["function"] = "branin_currin";
  r["budget"] = budget;
  r["seeds"] = args.seeds;
  r["reference_point"] = {18.0, 6.0};
  r["suggest_ms_per_trial"] = quantile(ms_per_trial, 0.5);
  r["hypervolumes"] = volumes;
  return nlohmann::json::array({r});
}

// A mixed-space problem: its space, the objective of a configuration and the
// best value reachable (the known optimum, or the table's best entry).
struct MixedProblem {
  std::string name;
  SearchSpace space;
  std::function<double(const Params&)> f;
  double minimum = 0.0;
};

MixedProblem mixed_problem(const std::string& name, const std::string& tables) {
  if (name == "mixed_lora_like") {
    MixedTestFunction t = mixed_lora_like();
    return {t.name, t.space, t.f, t.minimum};
  }
  if (name == "lora_fortunes" || name == "lora_tinystories") {
    // The sampler sees what a live sweep shows it: the final value of each
    // trial (the stored curve is for multi-fidelity methods only).
    auto table = std::make_shared<TabularBenchmark>(
        TabularBenchmark::load(tables + "/lora_table_" + name.substr(5) + ".json"));
    return {name, table->space(), [table](const Params& p) { return table->lookup(p).value; }, table->minimum()};
  }
  usage("unknown problem " + name + " (choices: mixed_lora_like, lora_fortunes, lora_tinystories)");
}

std::unique_ptr<Sampler> make_sampler(const std::string& kind, const SearchSpace& space, std::uint64_t seed) {
  if (kind == "random") return std::make_unique<RandomSampler>(space, seed);
  if (kind == "tpe") return std::make_unique<TpeSampler>(space, seed);
  return std::make_unique<GpSampler>(space, seed);
}

// One sequential run to the largest budget; the best value after each trial.
std::vector<double> best_so_far(Sampler& sampler, const MixedProblem& problem, int budget, double& suggest_seconds,
                                Params& best_params) {
  std::vector<Observation> history;
  std::vector<double> best;
  double b = std::numeric_limits<double>::infinity();
  while (static_cast<int>(history.size()) < budget) {
    const auto t0 = std::chrono::steady_clock::now();
    Params params = sampler.suggest(1, history).at(0);
    suggest_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    problem.space.validate(params);  // a sampler must never propose an invalid configuration
    Observation o;
    o.trial_number = static_cast<std::int64_t>(history.size());
    o.params = std::move(params);
    o.objectives = {problem.f(o.params)};
    o.status = ObservationStatus::Completed;
    sampler.tell(o);
    if (o.objectives.front() < b) best_params = o.params;
    b = std::min(b, o.objectives.front());
    best.push_back(b);
    history.push_back(std::move(o));
  }
  return best;
}

nlohmann::json mixed_problems(const Args& args) {
  nlohmann::json out = nlohmann::json::array();
  const int max_budget = *std::max_element(args.budgets.begin(), args.budgets.end());
  for (const auto& name : args.problems) {
    const MixedProblem problem = mixed_problem(name, args.tables);
    std::vector<std::vector<double>> regrets(args.budgets.size());
    std::vector<double> ms_per_trial;
    for (int seed = args.first_seed; seed < args.first_seed + args.seeds; ++seed) {
      auto sampler = make_sampler(args.sampler, problem.space, static_cast<std::uint64_t>(seed));
      double seconds = 0.0;
      Params best_params;
      const auto best = best_so_far(*sampler, problem, max_budget, seconds, best_params);
      for (std::size_t k = 0; k < args.budgets.size(); ++k)
        regrets[k].push_back(std::log10(std::max(best[args.budgets[k] - 1] - problem.minimum, 1e-12)));
      ms_per_trial.push_back(1e3 * seconds / max_budget);
      std::fprintf(stderr, "%s seed %d: log10 regret %.3f at %s\n", name.c_str(), seed, regrets.back().back(),
                   best_params.dump().c_str());
    }
    for (std::size_t k = 0; k < args.budgets.size(); ++k) {
      nlohmann::json r = summary(regrets[k], "log10_regret");
      r["function"] = name + "@" + std::to_string(args.budgets[k]);
      r["dim"] = problem.space.dimensions();
      r["budget"] = args.budgets[k];
      r["seeds"] = args.seeds;
      r["first_seed"] = args.first_seed;
      r["minimum"] = problem.minimum;
      r["suggest_ms_per_trial"] = quantile(ms_per_trial, 0.5);
      r["final_log10_regrets"] = regrets[k];
      out.push_back(r);
    }
  }
  return out;
}

// A trial's simulated duration: 1 for equal costs, else log-normal (σ = 0.5)
// drawn from (seed, trial), so the workers free in a shuffled order.
std::function<double(int, const Params&)> trial_duration(const std::string& cost, std::uint64_t seed) {
  if (cost == "equal") return [](int, const Params&) { return 1.0; };
  return [seed](int trial, const Params&) {
    std::mt19937_64 rng(mix_seed(seed ^ 0xD0A7ull, static_cast<std::uint64_t>(trial)));
    return std::lognormal_distribution<double>(0.0, 0.5)(rng);
  };
}

// One simulated run of `workers` workers to the largest budget: per budget, the
// log10 regret after that many finished trials.
struct AsyncResult {
  std::vector<double> log10_regrets;  // per budget
  int max_pending = 0;                // running trials the sampler saw when proposing
  int pending_repeats = 0;            // proposals equal to a running configuration
  double seconds = 0.0;
};

// Appends one JSON line per trial of a simulated run to `path`: the seed, the
// workers, the trial number, when it finished (1-based), how many trials were
// running when it was proposed, its configuration, value and regret.
void append_trace(const std::string& path, const MixedProblem& problem, int seed, int workers,
                  const AsyncSimulation& sim) {
  std::ofstream out(path, std::ios::app);
  if (!out) usage("cannot write --trace " + path);
  std::vector<int> finished_rank(sim.history.size());
  for (std::size_t k = 0; k < sim.completion_order.size(); ++k)
    finished_rank[static_cast<std::size_t>(sim.completion_order[k])] = static_cast<int>(k) + 1;
  for (std::size_t i = 0; i < sim.history.size(); ++i) {
    const Observation& o = sim.history[i];
    out << nlohmann::json{{"problem", problem.name},
                          {"seed", seed},
                          {"workers", workers},
                          {"trial", i},
                          {"finished", finished_rank[i]},
                          {"running_at_proposal", sim.running_at_proposal[i].size()},
                          {"params", o.params},
                          {"value", o.objectives.front()},
                          {"regret", o.objectives.front() - problem.minimum}}
               .dump()
        << "\n";
  }
}

AsyncResult async_run(const Args& args, const MixedProblem& problem, int seed, int workers) {
  auto sampler = make_sampler(args.sampler, problem.space, static_cast<std::uint64_t>(seed));
  const int trials = *std::max_element(args.budgets.begin(), args.budgets.end());
  const auto objective = [&](const Params& p) {
    problem.space.validate(p);  // a sampler must never propose an invalid configuration
    return problem.f(p);
  };
  const AsyncSimulation sim = simulate_async(*sampler, {workers, trials}, objective,
                                             trial_duration(args.trial_cost, static_cast<std::uint64_t>(seed)));
  if (!args.trace.empty()) append_trace(args.trace, problem, seed, workers, sim);
  AsyncResult r;
  const auto best = sim.best_after_completions();
  for (const int b : args.budgets)
    r.log10_regrets.push_back(std::log10(std::max(best[static_cast<std::size_t>(b - 1)] - problem.minimum, 1e-12)));
  for (std::size_t i = 0; i < sim.history.size(); ++i) {
    const auto& running = sim.running_at_proposal[i];
    r.max_pending = std::max(r.max_pending, static_cast<int>(running.size()));
    for (const int j : running)
      if (sim.history[static_cast<std::size_t>(j)].params == sim.history[i].params) ++r.pending_repeats;
  }
  r.seconds = sim.suggest_seconds;
  return r;
}

nlohmann::json parallel_cell(const std::string& name, int budget, const std::vector<double>& regrets,
                             const std::vector<double>& ms_per_trial) {
  nlohmann::json r = summary(regrets, "log10_regret");
  r["suggest_ms_per_trial"] = quantile(ms_per_trial, 0.5);
  r["function"] = name + "@" + std::to_string(budget);
  r["budget"] = budget;
  r["seeds"] = static_cast<int>(regrets.size());
  r["final_log10_regrets"] = regrets;
  return r;
}

// --problems with --parallel N: the sequential and the N-worker run of every
// seed, side by side (two search_bench runs in one list).
nlohmann::json parallel_mixed_problems(const Args& args) {
  nlohmann::json sequential = nlohmann::json::array(), parallel = nlohmann::json::array();
  for (const auto& name : args.problems) {
    const MixedProblem problem = mixed_problem(name, args.tables);
    std::vector<std::vector<double>> seq(args.budgets.size()), par(args.budgets.size());
    int max_pending = 0, repeats = 0;
    std::vector<double> seq_ms, par_ms;
    const double trials = *std::max_element(args.budgets.begin(), args.budgets.end());
    for (int seed = args.first_seed; seed < args.first_seed + args.seeds; ++seed) {
      const AsyncResult one = async_run(args, problem, seed, 1), many = async_run(args, problem, seed, args.parallel);
      for (std::size_t k = 0; k < args.budgets.size(); ++k) {
        seq[k].push_back(one.log10_regrets[k]);
        par[k].push_back(many.log10_regrets[k]);
      }
      seq_ms.push_back(1e3 * one.seconds / trials);
      par_ms.push_back(1e3 * many.seconds / trials);
      max_pending = std::max(max_pending, many.max_pending);
      repeats += many.pending_repeats;
      std::fprintf(stderr, "%s seed %d: log10 regret %.3f sequential, %.3f with %d workers\n", name.c_str(), seed,
                   one.log10_regrets.back(), many.log10_regrets.back(), args.parallel);
    }
    for (std::size_t k = 0; k < args.budgets.size(); ++k) {
      sequential.push_back(parallel_cell(name, args.budgets[k], seq[k], seq_ms));
      nlohmann::json p = parallel_cell(name, args.budgets[k], par[k], par_ms);
      p["sequential_median_log10_regret"] = quantile(seq[k], 0.5);
      p["sequential_log10_regrets"] = seq[k];
      p["decades_behind_sequential"] = quantile(par[k], 0.5) - quantile(seq[k], 0.5);
      p["a12_vs_sequential"] = vargha_delaney_a12(par[k], seq[k]);
      p["max_pending_at_proposal"] = max_pending;
      p["proposals_equal_to_a_running_trial"] = repeats;
      parallel.push_back(p);
    }
  }
  const auto run = [&](int workers, nlohmann::json results) {
    return nlohmann::json{{"sampler", "lorafarm-" + args.sampler}, {"parallel", workers}, {"mode", "single_objective"},
                          {"trial_cost", args.trial_cost}, {"results", std::move(results)}};
  };
  return nlohmann::json::array({run(1, std::move(sequential)), run(args.parallel, std::move(parallel))});
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  if (args.multi_fidelity) {
    auto fidelity = args.fidelity;
    fidelity.seeds = args.seeds;
    fidelity.budgets = args.budgets;
    fidelity.tables = args.tables;
    if (!args.problems.empty()) fidelity.problems = args.problems;
    if (fidelity.stopped != "shifted" && fidelity.stopped != "last" && fidelity.stopped != "exclude")
      usage("--stopped must be shifted, last or exclude");
    std::cout << lorafarm::bench::multi_fidelity(fidelity).dump(2) << "\n";
    return 0;
  }
  if (!args.problems.empty() && args.parallel > 1) {
    std::cout << parallel_mixed_problems(args).dump(2) << "\n";
    return 0;
  }
  nlohmann::json out;
  out["sampler"] = "lorafarm-" + args.sampler;
  out["parallel"] = args.parallel;
  out["mode"] = args.multi_objective ? "multi_objective" : "single_objective";
  if (!args.problems.empty()) {
    out["results"] = mixed_problems(args);
  } else {
    out["results"] = args.multi_objective ? multi_objective(args) : single_objective(args);
  }
  std::cout << out.dump(2) << "\n";
  return 0;
}
