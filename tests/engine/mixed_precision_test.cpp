// bf16 mixed-precision training (`precision: bf16`) end to end at a reduced
// scale: LoRA on the bundled model and the fortunes data lands close to the
// same run with fp32 products, and the setting round-trips through the
// training config. The full-size comparison (300 iterations) is in
// docs/training.md.
#include <gtest/gtest.h>

#include "engine/error.h"
#include "engine/precision.h"
#include "engine/trainer.h"
#include "test_support.h"

namespace lorafarm::engine {
namespace {

using testing::ScratchDir;

TrainConfig fortunes_lora(const ScratchDir& dir, Precision precision) {
  TrainConfig c;
  c.model = testing::bundled_model().string();
  c.data = testing::bundled_data("fortunes").string();
  c.iters = 60;
  c.batch_size = 8;
  c.learning_rate = 1e-3;
  c.adapter.rank = 8;
  c.max_seq_length = 256;
  c.steps_per_report = 20;
  c.steps_per_eval = 1000;
  c.val_batches = -1;
  c.save_every = 0;
  c.test = false;
  c.threads = 1;  // one thread: no spinning partner on a shared machine
  c.precision = precision;
  c.adapter_path = (dir / precision_name(precision)).string();
  return c;
}

TEST(MixedPrecision, Bf16LoraEndsWithinTwoPercentOfFp32ValidationPerplexity) {
  if (!bf16_products_supported()) GTEST_SKIP() << "this CPU has no AVX-512 BF16";
  ScratchDir dir;
  const TrainResult fp32 = train(fortunes_lora(dir, Precision::kF32));
  const TrainResult bf16 = train(fortunes_lora(dir, Precision::kBF16));
  EXPECT_EQ(bf16.precision, Precision::kBF16);
  EXPECT_EQ(product_precision(), Precision::kF32);  // the setting ends with the run
  EXPECT_NE(bf16.step_losses, fp32.step_losses);    // the products really changed
  EXPECT_LE(std::abs(bf16.val_ppl / fp32.val_ppl - 1.0), 0.02) << "bf16 " << bf16.val_ppl << " fp32 " << fp32.val_ppl;
}

TEST(MixedPrecision, ThePrecisionRoundTripsThroughTheTrainingConfig) {
  TrainConfig c = TrainConfig::from_json({{"precision", "bf16"}});
  EXPECT_EQ(c.precision, Precision::kBF16);
  EXPECT_EQ(TrainConfig::from_json(c.to_json()).precision, Precision::kBF16);
  EXPECT_EQ(TrainConfig::from_json(nlohmann::json::object()).precision, Precision::kF32);
  EXPECT_THROW(TrainConfig::from_json({{"precision", "fp16"}}), InvalidInput);
}

}  // namespace
}  // namespace lorafarm::engine
