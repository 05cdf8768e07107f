// safetensors reading, writing and the validation of hostile headers.
#include "engine/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "engine/model.h"
#include "test_support.h"

namespace lorafarm::engine {
namespace {

// A file with the given header JSON followed by `data_bytes` zero bytes.
void write_raw(const std::filesystem::path& path, const std::string& header, std::size_t data_bytes) {
  std::string bytes(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(bytes.data(), &n, 8);
  bytes += header;
  bytes += std::string(data_bytes, '\0');
  testing::write_file(path, bytes);
}

std::string error_of(const std::filesystem::path& path) {
  try {
    SafetensorsFile::open(path);
  } catch (const InvalidInput& e) {
    return e.what();
  }
  return "";
}

TEST(Safetensors, WriteThenReadRoundTrips) {
  testing::ScratchDir dir;
  const std::vector<float> a{1.5f, -2.0f, 3.25f, 0.0f, 7.0f, 8.0f};
  std::map<std::string, TensorData> tensors;
  tensors["a"] = TensorData::from_floats({2, 3}, a);
  tensors["b"] = TensorData::from_floats({1}, std::vector<float>{42.0f});
  write_safetensors(dir / "t.safetensors", tensors, {{"format", "pt"}});
  const SafetensorsFile file = SafetensorsFile::open(dir / "t.safetensors");
  EXPECT_EQ(file.tensor("a").shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(file.tensor("a").to_float(), a);
  EXPECT_EQ(file.tensor("b").to_float(), std::vector<float>{42.0f});
  EXPECT_EQ(file.metadata().at("format"), "pt");
}

TEST(Safetensors, HalfAndBfloat16AreWidened) {
  testing::ScratchDir dir;
  // 1.0, -2.0, 65504 (max half), 2^-24 (smallest subnormal) in IEEE half; 1.0 and -3.0 in bfloat16.
  const uint16_t half[] = {0x3c00, 0xc000, 0x7bff, 0x0001};
  const uint16_t bf16[] = {0x3f80, 0xc040};
  std::map<std::string, TensorData> tensors;
  tensors["h"] = {DType::kF16, {4}, std::vector<std::byte>(reinterpret_cast<const std::byte*>(half),
                                                          reinterpret_cast<const std::byte*>(half) + 8)};
  tensors["b"] = {DType::kBF16, {2}, std::vector<std::byte>(reinterpret_cast<const std::byte*>(bf16),
                                                           reinterpret_cast<const std::byte*>(bf16) + 4)};
  write_safetensors(dir / "t.safetensors", tensors);
  const SafetensorsFile file = SafetensorsFile::open(dir / "t.safetensors");
  EXPECT_EQ(file.tensor("h").to_float(), (std::vector<float>{1.0f, -2.0f, 65504.0f, std::ldexp(1.0f, -24)}));
  EXPECT_EQ(file.tensor("b").to_float(), (std::vector<float>{1.0f, -3.0f}));
}

TEST(Safetensors, TruncatedFileIsRejected) {
  testing::ScratchDir dir;
  const std::string model = testing::read_file(testing::bundled_model() / "model.safetensors");
  testing::write_file(dir / "cut.safetensors", model.substr(0, model.size() / 2));
  EXPECT_NE(error_of(dir / "cut.safetensors").find("past the end"), std::string::npos) << error_of(dir / "cut.safetensors");
  testing::write_file(dir / "tiny.safetensors", "abc");
  EXPECT_NE(error_of(dir / "tiny.safetensors").find("truncated"), std::string::npos);
  testing::write_file(dir / "header.safetensors", model.substr(0, 100));
  EXPECT_NE(error_of(dir / "header.safetensors").find("truncated"), std::string::npos);
}

TEST(Safetensors, OffsetsPastTheEndAreRejected) {
  testing::ScratchDir dir;
  write_raw(dir / "f", R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8);
  EXPECT_NE(error_of(dir / "f").find("past the end"), std::string::npos);
}

TEST(Safetensors, OverlappingRangesAreRejected) {
  testing::ScratchDir dir;
  write_raw(dir / "f",
            R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
            16);
  EXPECT_NE(error_of(dir / "f").find("overlap"), std::string::npos);
}

TEST(Safetensors, ShapeMustMatchByteRange) {
  testing::ScratchDir dir;
  write_raw(dir / "f", R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8);
  EXPECT_NE(error_of(dir / "f").find("need 12 bytes"), std::string::npos);
}

TEST(Safetensors, UnknownDtypeIsRejected) {
  testing::ScratchDir dir;
  write_raw(dir / "f", R"({"w":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}})", 2);
  EXPECT_NE(error_of(dir / "f").find("unsupported dtype 'F8_E4M3'"), std::string::npos);
}

TEST(Safetensors, MalformedHeaderIsRejected) {
  testing::ScratchDir dir;
  write_raw(dir / "f", R"({"w":{"dtype":"F32",)", 0);
  EXPECT_NE(error_of(dir / "f").find("not valid JSON"), std::string::npos);
  write_raw(dir / "g", R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})", 0);
  EXPECT_NE(error_of(dir / "g").find("negative"), std::string::npos);
}

// A copy of stories260K with one tensor replaced or dropped.
std::filesystem::path altered_model(const testing::ScratchDir& dir, const std::string& name,
                                    const std::vector<int64_t>* new_shape) {
  const auto folder = dir / "model";
  std::filesystem::create_directories(folder);
  std::filesystem::copy_file(testing::bundled_model() / "config.json", folder / "config.json");
  const SafetensorsFile original = SafetensorsFile::open(testing::bundled_model() / "model.safetensors");
  std::map<std::string, TensorData> tensors;
  for (const auto& [n, view] : original.tensors()) {
    if (n == name && new_shape == nullptr) continue;
    if (n == name) {
      int64_t count = 1;
      for (int64_t d : *new_shape) count *= d;
      tensors[n] = TensorData::from_floats(*new_shape, std::vector<float>(static_cast<std::size_t>(count), 0.5f));
    } else {
      tensors[n] = {view.dtype, view.shape, {view.bytes.begin(), view.bytes.end()}};
    }
  }
  write_safetensors(folder / "model.safetensors", tensors);
  return folder;
}

TEST(ModelLoad, MissingTensorIsNamed) {
  testing::ScratchDir dir;
  const auto folder = altered_model(dir, "model.layers.3.mlp.up_proj.weight", nullptr);
  try {
    Model::load(folder);
    FAIL() << "expected an error";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("missing tensor 'model.layers.3.mlp.up_proj.weight'"), std::string::npos)
        << e.what();
  }
}

TEST(ModelLoad, WrongShapeIsNamed) {
  testing::ScratchDir dir;
  const std::vector<int64_t> shape{64, 60};
  const auto folder = altered_model(dir, "model.layers.0.self_attn.q_proj.weight", &shape);
  try {
    Model::load(folder);
    FAIL() << "expected an error";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("has shape [64, 60], the config needs [64, 64]"), std::string::npos)
        << e.what();
  }
}

TEST(ModelLoad, ShardedCheckpointLoadsLikeOneFile) {
  testing::ScratchDir dir;
  const auto folder = dir / "sharded";
  std::filesystem::create_directories(folder);
  std::filesystem::copy_file(testing::bundled_model() / "config.json", folder / "config.json");
  const SafetensorsFile original = SafetensorsFile::open(testing::bundled_model() / "model.safetensors");
  std::map<std::string, TensorData> shards[2];
  nlohmann::json weight_map;
  int i = 0;
  for (const auto& [n, view] : original.tensors()) {
    const int shard = i++ % 2;
    shards[shard][n] = {view.dtype, view.shape, {view.bytes.begin(), view.bytes.end()}};
    weight_map[n] = "model-0000" + std::to_string(shard + 1) + "-of-00002.safetensors";
  }
  write_safetensors(folder / "model-00001-of-00002.safetensors", shards[0]);
  write_safetensors(folder / "model-00002-of-00002.safetensors", shards[1]);
  testing::write_file(folder / "model.safetensors.index.json", nlohmann::json{{"weight_map", weight_map}}.dump());
  const Model sharded = Model::load(folder);
  const Model single = Model::load(testing::bundled_model());
  EXPECT_EQ(sharded.embed_tokens, single.embed_tokens);
  EXPECT_EQ(sharded.blocks[4].down_proj.weight, single.blocks[4].down_proj.weight);
}

}  // namespace
}  // namespace lorafarm::engine
