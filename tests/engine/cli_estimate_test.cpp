// `lorafarm info --estimate` against measured training runs, and the QLoRA
// configuration a model is too small for.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test_support.h"

namespace lorafarm::testing {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;

json last_json_line(const std::string& out) {
  const auto end = out.find_last_not_of('\n');
  const auto start = out.rfind('\n', end);
  return json::parse(out.substr(start == std::string::npos ? 0 : start + 1, end - (start == std::string::npos ? 0 : start + 1) + 1));
}

// The prediction is within 20 % of the peak RSS a real run measures, for
// each method (stories260K, batch 8 x 256: the acceptance runs' shape).
void expect_estimates_within_twenty_percent(const std::vector<std::string>& methods) {
#if defined(__SANITIZE_ADDRESS__)
  // ASan's shadow memory and redzones multiply the measured RSS (x10 here);
  // the estimate predicts a normal build.
  GTEST_SKIP() << "peak-memory estimate not comparable under AddressSanitizer";
#endif
  for (const std::string& method : methods) {
    const auto info = run_lorafarm({"info", bundled_model().string(), "--estimate", method, "--rank", "8", "--batch-size", "8",
                                    "--max-seq-length", "256", "--json"});
    ASSERT_EQ(info.exit_code, 0) << info.err;
    const auto estimate = json::parse(info.out)["training_estimate"];
    if (method == "qlora") EXPECT_GT(estimate["bytes"]["quantized_weights"].get<double>(), 0);
    ScratchDir dir;
    // A few steps at the full shape reach the peak; one batch of each split
    // keeps the evaluations short.
    const json config{{"model", bundled_model().string()}, {"data", bundled_data("fortunes").string()}, {"fine_tune_type", method},
                      {"lora_parameters", {{"rank", 8}}}, {"batch_size", 8}, {"max_seq_length", 256}, {"iters", 2},
                      {"steps_per_eval", 100}, {"val_batches", 1}, {"test_batches", 1}, {"adapter_path", (dir / "adapter").string()}};
    write_file(dir / "train.json", config.dump());
    const std::vector<std::string> args{"train", "--config", (dir / "train.json").string(), "--json"};
    const auto train = run_lorafarm(args);
    ASSERT_EQ(train.exit_code, 0) << train.err;
    const auto final_line = last_json_line(train.out);
    const double measured = final_line["peak_rss_mb"].get<double>();
    const double predicted = estimate["predicted_peak_rss_mb"].get<double>();
    EXPECT_NEAR(predicted, measured, 0.2 * measured) << method << ": predicted " << predicted << " MiB, measured " << measured;
    EXPECT_EQ(estimate["trainable_params"], final_line["trainable_params"]) << method;
  }
}

TEST(CliEstimate, PredictsTheMeasuredPeakOfQloraAndFullWithinTwentyPercent) { expect_estimates_within_twenty_percent({"qlora", "full"}); }

TEST(CliEstimateSlow, PredictsTheMeasuredPeakOfEveryMethodWithinTwentyPercent) {
  expect_estimates_within_twenty_percent({"lora", "qlora", "dora", "full"});
}

TEST(CliEstimate, QloraOnAModelTooSmallForTheGroupSizeIsOneClearLine) {
  ScratchDir dir;
  const auto r = run_lorafarm({"train", "--model", bundled_model().string(), "--data", bundled_data("fortunes").string(),
                               "--fine-tune-type", "qlora", "--group-size", "128", "--iters", "2", "--adapter-path",
                               (dir / "adapter").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("group_size 128"));
  EXPECT_THAT(r.err, HasSubstr("hidden 64, intermediate 172"));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

}  // namespace
}  // namespace lorafarm::testing
