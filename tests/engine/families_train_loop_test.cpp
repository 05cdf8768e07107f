// The whole training loop (data, LoRA / DoRA / QLoRA / full, evaluation,
// saving and reloading the adapter) on a small random model of each newer
// family, with the bundled model's tokenizer.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/adapter_io.h"
#include "engine/dataset.h"
#include "engine/evaluate.h"
#include "engine/fuse.h"
#include "engine/trainer.h"
#include "test_support.h"

namespace lorafarm::engine {
namespace {

using lorafarm::testing::ScratchDir;
using nlohmann::json;

// A random model of `type` (vocab 512, the bundled tokenizer's) in `folder`.
void write_family_model(const std::string& type, const std::filesystem::path& folder) {
  json j = {{"model_type", type}, {"hidden_size", 64}, {"intermediate_size", 128}, {"num_hidden_layers", 2},
            {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"head_dim", 16}, {"vocab_size", 512},
            {"max_position_embeddings", 128}, {"sliding_window", 16}, {"bos_token_id", 1}, {"eos_token_id", 2}};
  if (type == "qwen3") j.update({{"use_sliding_window", true}, {"max_window_layers", 1}});
  if (type == "smollm3") j["no_rope_layers"] = {1, 0};
  if (type == "gemma3_text") j["sliding_window_pattern"] = 2;
  const Model model = Model::random(ModelConfig::from_json(j), 3);
  save_model_folder(model, testing::bundled_model(), folder);  // copies the tokenizer files
  std::ofstream(folder / "config.json") << model.config.to_json().dump(2);
}

void write_data(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  for (const auto& [split, count] : {std::pair{"train", 48}, {"valid", 16}}) {
    std::ifstream in(testing::bundled_data("fortunes") / (std::string(split) + ".jsonl"));
    std::ofstream out(dir / (std::string(split) + ".jsonl"));
    std::string line;
    for (int i = 0; i < count && std::getline(in, line); ++i) out << line << "\n";
  }
}

TEST(FamilyTrainLoop, EachMethodTrainsAndItsAdapterReloads) {
  for (const char* type : {"qwen3", "smollm3", "gemma3_text", "gemma2"}) {
    ScratchDir dir;
    write_family_model(type, dir / "model");
    write_data(dir / "data");
    const auto tokenizer = load_tokenizer(dir / "model");
    DataOptions d;
    d.max_seq_length = 64;
    const auto valid = load_split((dir / "data").string(), "valid", *tokenizer, d);
    for (const std::string method : {"lora", "dora", "qlora", "full"}) {
      SCOPED_TRACE(std::string(type) + " " + method);
      TrainConfig c;
      c.model = (dir / "model").string();
      c.data = (dir / "data").string();
      c.adapter.type = parse_fine_tune_type(method == "qlora" ? "lora" : method);
      if (method == "qlora") c.adapter.quantization = QuantizationConfig{QuantizationConfig::Mode::kNf4, 4, 32};
      c.iters = 10;
      c.batch_size = 4;
      c.learning_rate = method == "full" ? 1e-3 : 1e-2;
      c.max_seq_length = 64;
      c.steps_per_eval = 10;
      c.val_batches = -1;
      c.save_every = 0;
      c.threads = 2;
      c.adapter_path = (dir / ("adapter_" + method)).string();
      const TrainResult r = train(c);
      const double base = evaluate_loss(load_trainable_model(dir / "model", c.adapter, 1), valid, 4, -1).loss;
      EXPECT_LT(r.val_loss, base - 0.05);
      const TrainableModel reloaded = load_adapted_model(dir / "model", c.adapter_path);
      EXPECT_NEAR(evaluate_loss(reloaded, valid, 4, -1).loss, r.val_loss, 1e-6);
    }
  }
}

}  // namespace
}  // namespace lorafarm::engine
