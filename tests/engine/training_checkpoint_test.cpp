// Training checkpoints: a run interrupted after a checkpoint and resumed from
// it ends bit for bit where an uninterrupted run ends (losses of every step,
// the final validation loss, the adapter file's bytes); a damaged checkpoint
// is an error naming its file. Next-token (LoRA, DoRA, nested ranks) and DPO runs.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "engine/error.h"
#include "engine/trainer.h"
#include "engine/training_checkpoint.h"
#include "test_support.h"

namespace lorafarm::engine {
namespace {

namespace fs = std::filesystem;
using lorafarm::testing::ScratchDir;
using lorafarm::testing::bundled_data;
using lorafarm::testing::bundled_model;
using lorafarm::testing::read_file;
using lorafarm::testing::write_file;

// The first `lines` records of a bundled split.
void copy_head(const std::string& split, const fs::path& to, int lines, const std::string& data_set = "fortunes") {
  std::ifstream in(bundled_data(data_set) / (split + ".jsonl"));
  std::string text, line;
  for (int i = 0; i < lines && std::getline(in, line); ++i) text += line + "\n";
  fs::create_directories(to);
  write_file(to / (split + ".jsonl"), text);
}

TrainConfig checkpoint_config(const ScratchDir& dir) {
  copy_head("train", dir / "data", 40);
  copy_head("valid", dir / "data", 12);
  TrainConfig c;
  c.model = bundled_model().string();
  c.data = (dir / "data").string();
  c.iters = 12;
  c.batch_size = 4;
  c.learning_rate = 1e-3;
  c.max_seq_length = 64;
  c.steps_per_report = 4;
  c.steps_per_eval = 6;
  c.val_batches = 2;
  c.save_every = 0;
  c.threads = 1;  // bit-identity holds at any fixed count; one keeps the test quick on busy machines
  c.test = false;
  return c;
}

struct Interrupted : std::runtime_error {
  Interrupted() : std::runtime_error("interrupted") {}
};

// Trains to `stop_at` with checkpoints every `every` steps and is cut off
// there (as a killed process would be); returns the checkpoint folder.
fs::path train_until(TrainConfig c, const fs::path& folder, int every, int stop_at) {
  c.adapter_path = (folder / "interrupted-adapter").string();
  c.checkpoint_every = every;
  c.checkpoint_dir = (folder / "checkpoint").string();
  TrainCallbacks cut;
  cut.on_step = [stop_at](int64_t step, int64_t) {
    if (step == stop_at) throw Interrupted();
  };
  EXPECT_THROW(train(c, cut), Interrupted);
  return c.checkpoint_dir;
}

void expect_resume_is_exact(const std::string& what, TrainConfig c, const ScratchDir& dir) {
  SCOPED_TRACE(what);
  c.adapter_path = (dir / (what + "-straight")).string();
  const TrainResult straight = train(c);

  const fs::path checkpoint = train_until(c, dir / what, 4, 10);  // checkpoints at 4 and 8; cut during 10
  TrainConfig resumed_config = c;
  resumed_config.adapter_path = (dir / (what + "-resumed")).string();
  resumed_config.resume_checkpoint = checkpoint.string();
  int64_t resumed_after = -1;
  TrainCallbacks callbacks;
  callbacks.on_resume = [&resumed_after](int64_t step) { resumed_after = step; };
  const TrainResult resumed = train(resumed_config, callbacks);

  EXPECT_EQ(resumed_after, 8);
  ASSERT_EQ(resumed.step_losses.size(), straight.step_losses.size());
  for (std::size_t i = 0; i < straight.step_losses.size(); ++i) EXPECT_EQ(resumed.step_losses[i], straight.step_losses[i]) << "step " << i + 1;
  EXPECT_EQ(resumed.val_loss, straight.val_loss);
  EXPECT_EQ(resumed.trained_tokens, straight.trained_tokens);
  EXPECT_EQ(read_file(fs::path(resumed_config.adapter_path) / "adapters.safetensors"),
            read_file(fs::path(c.adapter_path) / "adapters.safetensors"));
}

TEST(TrainingCheckpoint, ResumedLoraRunEndsBitIdenticalToAnUninterruptedOne) {
  ScratchDir dir;
  TrainConfig c = checkpoint_config(dir);
  c.adapter.dropout = 0.1f;  // dropout masks and the shuffled order must continue, not restart
  c.grad_accumulation_steps = 2;
  c.batch_order = "shuffle";
  c.max_grad_norm = 1.0;
  c.lr_schedule = LrSchedule::from_json({{"name", "cosine"}, {"warmup", 3}}, c.learning_rate);
  expect_resume_is_exact("lora", c, dir);
}

TEST(TrainingCheckpoint, ResumedDoraAndNestedRankRunsEndBitIdentical) {
  ScratchDir dir;
  TrainConfig dora = checkpoint_config(dir);
  dora.adapter.type = FineTuneType::kDora;
  expect_resume_is_exact("dora", dora, dir);
  TrainConfig nested = checkpoint_config(dir);
  nested.adapter.dynamic_rank = true;  // per-dimension Adam step counts are part of the state
  nested.adapter.rank = 8;
  expect_resume_is_exact("nested", nested, dir);
}

TEST(TrainingCheckpoint, ResumedDpoRunEndsBitIdentical) {
  ScratchDir dir;
  TrainConfig c = checkpoint_config(dir);
  copy_head("train", dir / "dpo", 40, "fortunes-dpo");
  copy_head("valid", dir / "dpo", 12, "fortunes-dpo");
  c.data = (dir / "dpo").string();
  c.train_mode = "dpo";  // the reference log-probabilities are recomputed, not saved: they never change
  c.batch_size = 2;
  c.max_seq_length = 128;  // room for each prompt and its completion
  c.adapter.dropout = 0.1f;
  c.batch_order = "shuffle";
  expect_resume_is_exact("dpo", c, dir);
}

// batch_size auto resumed under a larger memory limit (another worker, or
// another share of one) keeps the checkpoint's micro-batch: a fresh choice
// would take a larger one, whose data order and sums differ, and the
// checkpoint would be refused as another run's. Under a limit the
// checkpoint's micro-batch does not fit, resuming is an error naming both.
TEST(TrainingCheckpoint, AnAutoBatchRunResumesWithItsCheckpointsMicroBatch) {
  ScratchDir dir;
  TrainConfig c = checkpoint_config(dir);
  c.auto_batch_size = true;
  c.effective_batch_size = 4;
  c.memory_limit_mb = 1e6;
  c.adapter_path = (dir / "probe").string();
  const TrainResult roomy = train(c);
  ASSERT_EQ(roomy.micro_batch_size, 4);
  c.memory_limit_mb = roomy.predicted_peak_rss_mb - 0.01;  // micro-batch 4 no longer fits

  c.adapter_path = (dir / "straight").string();
  const TrainResult straight = train(c);
  ASSERT_EQ(straight.micro_batch_size, 2);
  const fs::path checkpoint = train_until(c, dir / "auto", 4, 10);

  TrainConfig resumed_config = c;
  resumed_config.memory_limit_mb = 1e6;
  resumed_config.adapter_path = (dir / "resumed").string();
  resumed_config.resume_checkpoint = checkpoint.string();
  std::string choice;
  TrainCallbacks callbacks;
  callbacks.on_message = [&choice](const std::string& line) {
    if (line.rfind("batch_size auto", 0) == 0) choice = line;
  };
  const TrainResult resumed = train(resumed_config, callbacks);
  EXPECT_EQ(resumed.micro_batch_size, 2);
  EXPECT_NE(choice.find("as the checkpoint being resumed"), std::string::npos) << choice;
  EXPECT_EQ(resumed.step_losses, straight.step_losses);
  EXPECT_EQ(resumed.val_loss, straight.val_loss);
  EXPECT_EQ(read_file(fs::path(resumed_config.adapter_path) / "adapters.safetensors"),
            read_file(fs::path(c.adapter_path) / "adapters.safetensors"));

  TrainConfig cramped = resumed_config;
  cramped.memory_limit_mb = straight.predicted_peak_rss_mb - 0.01;
  try {
    train(cramped);
    ADD_FAILURE() << "resuming should not fit";
  } catch (const InvalidInput& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("micro-batch 2 x 2"), std::string::npos) << what;
    EXPECT_NE(what.find("above the memory limit"), std::string::npos) << what;
  }
}

// Expects train() to fail with a message containing `needle`.
void expect_failure_naming(const TrainConfig& c, const std::string& needle) {
  try {
    train(c);
    ADD_FAILURE() << "resuming should have failed (" << needle << ")";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(TrainingCheckpoint, DamagedOrForeignCheckpointIsAnErrorNamingTheFile) {
  ScratchDir dir;
  TrainConfig c = checkpoint_config(dir);
  c.iters = 6;
  const fs::path folder = train_until(c, dir.path(), 2, 5);  // checkpoints at 2 and 4
  const fs::path state = folder / "training_state-000000004.safetensors";
  ASSERT_TRUE(fs::exists(state));
  EXPECT_FALSE(fs::exists(folder / "training_state-000000002.safetensors"));  // superseded
  c.adapter_path = (dir / "resumed").string();
  c.resume_checkpoint = folder.string();
  const std::string original = read_file(state);

  write_file(state, original.substr(0, original.size() - 100));
  expect_failure_naming(c, state.string() + ": truncated");
  std::string flipped = original;
  flipped[flipped.size() / 2] ^= 0x01;
  write_file(state, flipped);
  expect_failure_naming(c, state.string() + ": corrupt");
  write_file(state, original);
  TrainConfig other = c;
  other.seed = 7;
  expect_failure_naming(other, state.string() + ": the checkpoint is of another run (its 'seed'");
  fs::remove(folder / kCheckpointManifest);
  expect_failure_naming(c, (folder / kCheckpointManifest).string() + " is missing");
}

}  // namespace
}  // namespace lorafarm::engine
