// Acceptance: the fortunes fine-tuning margins of examples/data/fortunes/README.md
// ("Margins an engine should meet"): LoRA, QLoRA-4bit and DoRA reach valid
// perplexity <= 25, QLoRA ends within 5 % of LoRA, full fine-tuning at or
// below LoRA. Trained at the README's settings (batch 8, rank 8, scale 20,
// max_seq_length 256, all 7 linears of all 5 blocks, learning rate 1e-3, full
// at 1e-3) and scored as the README scores (`lorafarm eval`: BOS + ids, no EOS,
// cut at 256). scripts/acceptance-train.sh is the same by hand, with the
// learning-rate sanity checks.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <map>

#include "acceptance/parallel_runs.h"
#include "test_support.h"

namespace lorafarm::testing {
namespace {

using nlohmann::json;

struct Method {
  std::string name;
  std::string type;
  std::string learning_rate;
  std::vector<std::string> extra;
};

std::vector<std::string> train_args(const Method& m, int iters, const std::filesystem::path& adapter) {
  std::vector<std::string> args{"train", "--model", bundled_model().string(), "--data", bundled_data("fortunes").string(),
                                "--fine-tune-type", m.type, "--learning-rate", m.learning_rate, "--iters", std::to_string(iters),
                                "--batch-size", "8", "--rank", "8", "--scale", "20", "--max-seq-length", "256", "--num-layers", "-1",
                                "--steps-per-report", "50", "--steps-per-eval", "100000", "--save-every", "0", "--threads", "1",
                                "--seed", "0", "--adapter-path", adapter.string(), "--json"};
  args.insert(args.end(), m.extra.begin(), m.extra.end());
  return args;
}

std::vector<std::string> readme_eval_args(const std::filesystem::path& adapter) {
  return {"eval", "--model", bundled_model().string(), "--adapter", adapter.string(), "--data", bundled_data("fortunes").string(),
          "--split", "valid", "--max-seq-length", "256", "--threads", "1", "--json"};
}

// Trains every method for `iters` iterations, two at a time, and returns each
// adapter's validation perplexity scored the README's way.
std::map<std::string, double> readme_valid_ppl(const std::vector<Method>& methods, int iters) {
  ScratchDir dir;
  std::vector<std::vector<std::string>> trainings, evals;
  for (const auto& m : methods) {
    trainings.push_back(train_args(m, iters, dir / m.name));
    evals.push_back(readme_eval_args(dir / m.name));
  }
  const auto trained = run_lorafarm_parallel(trainings, 2);
  for (std::size_t i = 0; i < methods.size(); ++i) {
    EXPECT_EQ(trained[i].exit_code, 0) << methods[i].name << ": " << trained[i].err;
    if (trained[i].exit_code != 0) return {};
    EXPECT_EQ(last_json_line(trained[i].out)["final"], true) << trained[i].out;
  }
  const auto scored = run_lorafarm_parallel(evals, 2);
  std::map<std::string, double> ppl;
  for (std::size_t i = 0; i < methods.size(); ++i) {
    EXPECT_EQ(scored[i].exit_code, 0) << methods[i].name << ": " << scored[i].err;
    if (scored[i].exit_code != 0) return {};
    ppl[methods[i].name] = json::parse(scored[i].out)["perplexity"].get<double>();
    std::printf("%-8s %d iterations: README-scored valid ppl %.3f\n", methods[i].name.c_str(), iters, ppl[methods[i].name]);
  }
  return ppl;
}

// The README's margins, read against the runs' own numbers.
void expect_fortunes_margins(const std::map<std::string, double>& ppl) {
  ASSERT_EQ(ppl.size(), 4u);
  for (const char* adapter : {"lora", "qlora", "dora"}) EXPECT_LE(ppl.at(adapter), 25.0) << adapter;
  EXPECT_LE(std::abs(ppl.at("qlora") / ppl.at("lora") - 1.0), 0.05) << "QLoRA " << ppl.at("qlora") << " vs LoRA " << ppl.at("lora");
  EXPECT_LE(ppl.at("full"), ppl.at("lora"));
}

const std::vector<Method> kMethods = {
    {"lora", "lora", "1e-3", {}},
    {"qlora", "qlora", "1e-3", {"--bits", "4", "--group-size", "64"}},
    {"dora", "dora", "1e-3", {}},
    {"full", "full", "1e-3", {}},
};

TEST(AcceptanceFortunes, EveryMethodMeetsTheReadmeMargins) { expect_fortunes_margins(readme_valid_ppl(kMethods, 300)); }

}  // namespace
}  // namespace lorafarm::testing
