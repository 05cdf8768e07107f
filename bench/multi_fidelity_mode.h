// search_bench --multi-fidelity: BOHB-style search against ASHA with random
// proposals and the GP at full budget, at equal training spent, on the LoRA tables.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace lorafarm::bench {

struct MultiFidelityArgs {
  int seeds = 20;
  std::vector<std::string> problems = {"lora_fortunes", "lora_tinystories"};
  std::vector<int> budgets = {30, 60};  // in full-budget trials' worth of training
  double reduction_factor = 2.0;        // ASHA's η (rungs from the table's first curve step)
  double random_fraction = 0.0;         // BOHB's ρ
  int min_points = 0;                   // values a budget needs for its model; 0 = the sampler's default
  std::string stopped = "shifted";      // "shifted" | "last" | "exclude": stopped trials in higher budgets' models
  std::vector<std::string> methods = {"bohb", "asha_random", "gp_full", "gp_asha"};
  std::string tables;
};

// One entry per problem and budget: each method's median regret over seeds.
nlohmann::json multi_fidelity(const MultiFidelityArgs& args);

}  // namespace lorafarm::bench
