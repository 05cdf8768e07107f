// lorafarm against a LoRA adapter in PEFT's layout that lorafarm did not
// write: tests/engine/peft_fixture/make_fixture.py writes it from PEFT's
// documented format (tensor names, [r, in] / [out, r] shapes, LoraConfig
// keys). Loading it must apply exactly W + (alpha / r) B A, and lorafarm's own
// PEFT writer must produce the same names, shapes and config keys.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <map>
#include <vector>

#include "engine/adapter_io.h"
#include "engine/model_config.h"
#include "test_support.h"

namespace lorafarm::engine {
namespace {

std::filesystem::path fixture() { return testing::source_dir() / "tests/engine/peft_fixture/tiny_lora"; }

// The fixture's values, the same formulas as make_fixture.py.
constexpr int kRank = 2;
constexpr double kAlpha = 8.0;
double a_value(int layer, int module, int k, int i) { return ((3 * k + 5 * i + 7 * layer + 11 * module) % 13 - 6) / 16.0; }
double b_value(int layer, int module, int o, int k) { return ((5 * o + 3 * k + 2 * layer + 7 * module) % 9 - 4) / 8.0; }

const Linear& module_of(const DecoderBlock& block, int module) {
  switch (module) {
    case 0: return block.q_proj;
    case 1: return block.v_proj;
    default: return block.down_proj;
  }
}

// A safetensors header read by hand: 8 bytes of little-endian length, then JSON.
nlohmann::json safetensors_header(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  unsigned char size_bytes[8] = {};
  in.read(reinterpret_cast<char*>(size_bytes), 8);
  std::uint64_t size = 0;
  for (int i = 7; i >= 0; --i) size = (size << 8) | size_bytes[i];
  std::string text(size, '\0');
  in.read(text.data(), static_cast<std::streamsize>(size));
  auto header = nlohmann::json::parse(text);
  header.erase("__metadata__");
  return header;
}

std::map<std::string, std::vector<std::int64_t>> shapes(const nlohmann::json& header) {
  std::map<std::string, std::vector<std::int64_t>> out;
  for (const auto& [name, entry] : header.items()) out[name] = entry["shape"].get<std::vector<std::int64_t>>();
  return out;
}

TEST(PeftLayout, TheFixtureHasPeftsNamesAndShapes) {
  const auto found = shapes(safetensors_header(fixture() / "adapter_model.safetensors"));
  EXPECT_EQ(found.size(), 2u * 3u * 2u);
  EXPECT_EQ(found.at("base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight"), (std::vector<std::int64_t>{2, 32}));
  EXPECT_EQ(found.at("base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight"), (std::vector<std::int64_t>{16, 2}));
  EXPECT_EQ(found.at("base_model.model.model.layers.0.mlp.down_proj.lora_A.weight"), (std::vector<std::int64_t>{2, 64}));
}

TEST(PeftLayout, LoadingAPeftAdapterAddsAlphaOverRTimesBA) {
  const ModelConfig tiny = preset_config("tiny");
  Model base = Model::random(tiny, 5);
  const AdapterConfig read = read_adapter_config(fixture());
  EXPECT_EQ(read.type, FineTuneType::kLora);
  EXPECT_EQ(read.rank, kRank);
  EXPECT_FLOAT_EQ(read.effective_scale(), kAlpha / kRank);
  const Model merged = load_adapted_model(Model::random(tiny, 5), fixture()).merged_model();
  for (int layer = 0; layer < tiny.num_layers; ++layer) {
    for (int module = 0; module < 3; ++module) {
      const Matrix& before = module_of(base.blocks[layer], module).weight;  // (out, in)
      const Matrix& after = module_of(merged.blocks[layer], module).weight;
      ASSERT_EQ(after.rows(), before.rows());
      ASSERT_EQ(after.cols(), before.cols());
      double worst = 0.0;
      for (Eigen::Index o = 0; o < before.rows(); ++o) {
        for (Eigen::Index i = 0; i < before.cols(); ++i) {
          double ba = 0.0;
          for (int k = 0; k < kRank; ++k) ba += b_value(layer, module, static_cast<int>(o), k) * a_value(layer, module, k, static_cast<int>(i));
          worst = std::max(worst, std::abs(after(o, i) - before(o, i) - kAlpha / kRank * ba));
        }
      }
      EXPECT_LT(worst, 1e-5) << "layer " << layer << " module " << module;
    }
    // Modules the adapter does not target stay as they were.
    EXPECT_TRUE(merged.blocks[layer].k_proj.weight == base.blocks[layer].k_proj.weight);
  }
}

TEST(PeftLayout, LorafarmsPeftWriterMatchesTheFixture) {
  testing::ScratchDir dir;
  AdapterConfig c;
  c.rank = kRank;
  c.alpha = static_cast<float>(kAlpha);
  c.keys = {"q_proj", "v_proj", "down_proj"};
  const TrainableModel tm(Model::random(preset_config("tiny"), 5), c, 1);
  save_adapter(dir.path(), tm, AdapterFormat::kPeft, {{"model", "tiny-llama"}});
  EXPECT_EQ(shapes(safetensors_header(dir / "adapter_model.safetensors")),
            shapes(safetensors_header(fixture() / "adapter_model.safetensors")));

  const auto expected = nlohmann::json::parse(testing::read_file(fixture() / "adapter_config.json"));
  const auto written = nlohmann::json::parse(testing::read_file(dir / "adapter_config.json"));
  for (const auto& [key, value] : expected.items()) {
    ASSERT_TRUE(written.contains(key)) << "lorafarm's adapter_config.json lacks PEFT's '" << key << "'";
    if (value.is_null()) continue;  // optional in PEFT: lorafarm may fill it in (layers_to_transform)
    if (key == "target_modules") {
      auto sorted = [](std::vector<std::string> v) { std::sort(v.begin(), v.end()); return v; };
      EXPECT_EQ(sorted(written[key]), sorted(value));
    } else if (value.is_number()) {
      EXPECT_EQ(written[key].get<double>(), value.get<double>()) << key;
    } else {
      EXPECT_EQ(written[key], value) << key;
    }
  }
}

}  // namespace
}  // namespace lorafarm::engine
