// The peak-memory predictor's tally against hand-counted bytes, and
// `batch_size: auto`: the config options, the choice of micro-batch, and the
// error when not even one sequence fits.
#include "engine/batch_sizing.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine/error.h"
#include "test_support.h"

namespace lorafarm::testing {
namespace {

using engine::AdapterConfig;
using engine::FineTuneType;
using engine::InvalidInput;
using engine::ModelConfig;
using engine::TrainConfig;
using ::testing::HasSubstr;

// hidden 8, MLP 16, one block, 2 query heads and 1 key/value head of 4, 10 tokens, tied head.
ModelConfig small_config() {
  ModelConfig c;
  c.model_type = "llama";
  c.hidden_size = 8;
  c.intermediate_size = 16;
  c.num_layers = 1;
  c.num_heads = 2;
  c.num_kv_heads = 1;
  c.head_dim = 4;
  c.vocab_size = 10;
  c.max_position_embeddings = 64;
  c.tie_word_embeddings = true;
  return c;
}

// Values by hand: embedding 10·8 = 80; norms 2·8 + final 8 = 24 (float32
// always); linears q 8·8, k 8·4, v 8·4, o 8·8, gate/up 8·16, down 16·8 = 576.
// LoRA rank 2 on all seven: 2·(in+out) = 32+24+24+32+48+48+48 = 256 values.
TEST(BatchSizing, TheTallyOfLoraOnABf16CheckpointMatchesHandCountedBytes) {
  AdapterConfig lora;
  lora.rank = 2;
  engine::TrainShape shape;
  shape.batch_size = 1;
  shape.seq_length = 4;
  shape.weight_value_bytes = 2;
  const auto t = engine::estimate_training_memory(small_config(), lora, shape);
  EXPECT_EQ(t.base_weights, 80 * 2 + 24 * 4 + 576 * 2);  // frozen matrices stay 16-bit
  EXPECT_EQ(t.quantized_weights, 0);
  EXPECT_EQ(t.adapter_params, 256 * 4);
  EXPECT_EQ(t.gradients, 256 * 4);
  EXPECT_EQ(t.optimizer_state, 2 * 256 * 4);
  EXPECT_EQ(t.reference_model, 0);
  EXPECT_GT(t.activations, 0);
}

TEST(BatchSizing, FullFineTuningWidensA16BitCheckpointAndTrainsEveryValue) {
  AdapterConfig full;
  full.type = FineTuneType::kFull;
  engine::TrainShape shape;
  shape.seq_length = 4;
  shape.weight_value_bytes = 2;
  const auto t = engine::estimate_training_memory(small_config(), full, shape);
  const int64_t values = 80 + 24 + 576;
  EXPECT_EQ(t.base_weights, values * 4);
  EXPECT_EQ(t.adapter_params, 0);
  EXPECT_EQ(t.gradients, values * 4);
  EXPECT_EQ(t.optimizer_state, 2 * values * 4);
}

// QLoRA 4-bit, group 8: each linear whose input is a multiple of 8 packs
// 4 bits a value plus a float scale and bias per 8 values: 576/2 + 8·576/8.
TEST(BatchSizing, QloraPacksTheLinearsAndKeepsTheEmbeddingInTheCheckpointWidth) {
  AdapterConfig qlora;
  qlora.rank = 2;
  qlora.quantization = engine::QuantizationConfig{};
  qlora.quantization->bits = 4;
  qlora.quantization->group_size = 8;
  engine::TrainShape shape;
  shape.seq_length = 4;
  const auto t = engine::estimate_training_memory(small_config(), qlora, shape);
  EXPECT_EQ(t.quantized_weights, 576 / 2 + 8 * 576 / 8);
  EXPECT_EQ(t.base_weights, 80 * 4 + 24 * 4);
}

TEST(BatchSizing, DpoFullFineTuningCountsTheReferenceCopyAndTwoRowsAPair) {
  TrainConfig config;
  config.adapter.type = FineTuneType::kFull;
  config.train_mode = "dpo";
  const auto dpo = engine::predict_training_tally(config, small_config(), 4, 16, 3);
  EXPECT_EQ(dpo.reference_model, dpo.base_weights);
  config.train_mode = "sft";
  const auto sft = engine::predict_training_tally(config, small_config(), 4, 16, 6);
  EXPECT_EQ(dpo.activations, sft.activations);  // 3 pairs are 6 rows
}

TEST(BatchSizing, AutoConfigOptionsParseAndConflictingOnesAreRefused) {
  const auto c = TrainConfig::from_json({{"model", "m"}, {"data", "d"}, {"batch_size", "auto"},
                                         {"effective_batch_size", 16}, {"memory_limit_mb", 1500}});
  EXPECT_TRUE(c.auto_batch_size);
  EXPECT_EQ(c.effective_batch_size, 16);
  EXPECT_EQ(*c.memory_limit_mb, 1500);
  EXPECT_NO_THROW(c.validate());
  EXPECT_EQ(c.to_json()["batch_size"], "auto");
  EXPECT_THROW(TrainConfig::from_json({{"batch_size", "big"}}), InvalidInput);
  auto both = c;
  both.grad_accumulation_steps = 2;
  EXPECT_THROW(both.validate(), InvalidInput);
  auto odd = TrainConfig::from_json({{"model", "m"}, {"data", "d"}, {"batch_size", 3}, {"effective_batch_size", 8}});
  EXPECT_THROW(odd.validate(), InvalidInput);
}

TEST(BatchSizing, AutoPicksTheLargestDivisorOfTheEffectiveBatchThatFits) {
  TrainConfig config;
  config.auto_batch_size = true;
  config.effective_batch_size = 12;
  const ModelConfig model = engine::preset_config("small");
  auto peak = [&](int micro) {
    return engine::predicted_peak_rss_mb(engine::predict_training_tally(config, model, 4, 256, micro));
  };
  ASSERT_LT(peak(4), peak(6));
  // Between the peaks of 4 and 6 rows: 4 (a divisor of 12; 5 is not), 3 steps.
  const engine::MemoryLimit limit{0.5 * (peak(4) + peak(6)), "test"};
  const auto choice = engine::choose_micro_batch(config, model, 4, 256, limit);
  EXPECT_EQ(choice.micro_batch, 4);
  EXPECT_EQ(choice.accumulation_steps, 3);
  EXPECT_DOUBLE_EQ(choice.predicted_mb, peak(4));
  EXPECT_THAT(choice.line, HasSubstr("micro-batch 4 x 3 accumulation steps (effective batch 12"));
  EXPECT_THAT(choice.line, HasSubstr("micro-batch 6 would need"));
}

TEST(BatchSizing, AutoWhenNotEvenOneSequenceFitsNamesBothFigures) {
  TrainConfig config;
  config.auto_batch_size = true;
  const ModelConfig model = engine::preset_config("small");
  const engine::MemoryLimit limit{10, "--memory-limit"};
  try {
    engine::choose_micro_batch(config, model, 4, 256, limit);
    FAIL() << "no error";
  } catch (const InvalidInput& e) {
    EXPECT_THAT(e.what(), HasSubstr("even a micro-batch of 1 sequence of 256 tokens is predicted to peak at"));
    EXPECT_THAT(e.what(), HasSubstr("above the memory limit of 10 MB (--memory-limit)"));
  }
}

}  // namespace
}  // namespace lorafarm::testing
