// Suggest latency of the GP sampler (issue 5, "must show" 2): median and p95
// wall time of one suggest() through the Sampler interface, in 6-D, with 100,
// 500 and 2,000 completed observations (past BayesOptions::max_exact_observations
// the model is a subset of data). As in a sweep, one sampler sees the history
// grow by one finished trial per call (n, n+1, ...); the first ("cold") call,
// which must fit hyperparameters from scratch, is reported separately, and
// the scheduled refits fall inside the timed calls. Prints JSON.
//
//   suggest_latency_bench [--repeats N] [--observations 100,2000]
#include <algorithm>
#include <chrono>
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "search/gp_sampler.h"
#include "search/test_functions.h"

using namespace lorafarm::search;

namespace {

// CPU time of this thread: unlike wall time, not inflated when other
// processes share the cores (the search is single-threaded).
double thread_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return 1e3 * static_cast<double>(ts.tv_sec) + 1e-6 * static_cast<double>(ts.tv_nsec);
}

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(pos);
  const auto hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

}  // namespace

int main(int argc, char** argv) {
  int repeats = 20;
  std::vector<int> sizes{100, 500, 2000};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--repeats" && i + 1 < argc) {
      repeats = std::stoi(argv[++i]);
    } else if (a == "--observations" && i + 1 < argc) {
      sizes.clear();
      std::stringstream ss(argv[++i]);
      for (std::string s; std::getline(ss, s, ',');) sizes.push_back(std::stoi(s));
    } else {
      std::cerr << "usage: suggest_latency_bench [--repeats N] [--observations 100,2000]\n";
      return 2;
    }
  }
  const TestFunction fn = hartmann6();
  std::vector<Parameter> ps;
  for (int j = 0; j < 6; ++j) {
    Parameter p;
    p.name = "x" + std::to_string(j);
    ps.push_back(p);
  }
  const SearchSpace space(ps);
  const int exact_limit = BayesOptions{}.max_exact_observations;

  nlohmann::json results = nlohmann::json::array();
  for (int n : sizes) {
    std::mt19937_64 rng(static_cast<std::uint64_t>(n));
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::vector<Observation> history;
    for (int i = 0; i < n + repeats; ++i) {
      Eigen::VectorXd x(6);
      Params params;
      for (int j = 0; j < 6; ++j) params["x" + std::to_string(j)] = x(j) = u(rng);
      Observation o;
      o.trial_number = i;
      o.params = params;
      o.status = ObservationStatus::Completed;
      o.objectives = {fn.f(x)};
      history.push_back(o);
    }
    std::vector<double> ms, cpu_ms;
    GpSampler sampler(space, 1);
    const std::span<const Observation> all(history);
    auto t0 = std::chrono::steady_clock::now();
    sampler.suggest(1, all.first(static_cast<std::size_t>(n - 1)));
    const double cold_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    for (int r = 0; r < repeats; ++r) {
      t0 = std::chrono::steady_clock::now();
      const double c0 = thread_cpu_ms();
      const auto s = sampler.suggest(1, all.first(static_cast<std::size_t>(n + r)));
      cpu_ms.push_back(thread_cpu_ms() - c0);
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      if (s.size() != 1) return 1;
    }
    results.push_back({{"observations", n},
                       {"dim", 6},
                       {"modelled_points", std::min(n, exact_limit)},
                       {"repeats", repeats},
                       {"median_ms", percentile(ms, 0.5)},
                       {"p95_ms", percentile(ms, 0.95)},
                       {"cpu_median_ms", percentile(cpu_ms, 0.5)},
                       {"cpu_p95_ms", percentile(cpu_ms, 0.95)},
                       {"cold_first_call_ms", cold_ms}});
    std::cerr << n << " observations: median " << percentile(ms, 0.5) << " ms, p95 " << percentile(ms, 0.95)
              << " ms (thread CPU: " << percentile(cpu_ms, 0.5) << ", " << percentile(cpu_ms, 0.95) << ")\n";
  }
  nlohmann::json out;
  out["benchmark"] = "suggest_latency";
  out["approximation"] = "subset of data past " + std::to_string(exact_limit) +
                         " observations (best half by value + uniform random half), exact GP on the subset";
  out["results"] = results;
  std::cout << out.dump(2) << "\n";
  return 0;
}
