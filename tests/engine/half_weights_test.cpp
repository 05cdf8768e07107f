// Frozen weights kept in a checkpoint's bf16/fp16: products with 16-bit
// operands, and forward, eval and LoRA/DoRA/QLoRA/full training on 16-bit
// checkpoints against the widened-at-load path (exact, since both 16-bit
// formats widen to float32 exactly).
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "engine/adapter_io.h"
#include "engine/forward.h"
#include "engine/gemm.h"
#include "engine/half_matrix.h"
#include "engine/optimizer.h"
#include "engine/safetensors.h"
#include "engine/trainable_model.h"
#include "test_support.h"

namespace lorafarm::engine {
namespace {

// 16-bit bits of x by Eigen's own conversions (round to nearest even).
uint16_t to_bits(float x, DType dtype) {
  uint16_t bits;
  if (dtype == DType::kBF16) {
    const Eigen::bfloat16 h(x);
    std::memcpy(&bits, &h, 2);
  } else {
    const Eigen::half h(x);
    std::memcpy(&bits, &h, 2);
  }
  return bits;
}

HalfMatrix to_half(const Matrix& m, DType dtype) {
  HalfMatrix h;
  h.type = dtype == DType::kBF16 ? HalfType::kBF16 : HalfType::kF16;
  h.rows = m.rows();
  h.cols = m.cols();
  for (Eigen::Index i = 0; i < m.size(); ++i) h.bits.push_back(to_bits(m.data()[i], dtype));
  return h;
}

// `source`'s model folder with every float32 tensor stored as `dtype`.
void write_16bit_copy(const std::filesystem::path& source, DType dtype, const std::filesystem::path& out) {
  std::filesystem::create_directories(out);
  const SafetensorsFile file = SafetensorsFile::open(source / "model.safetensors");
  std::map<std::string, TensorData> tensors;
  for (const auto& [name, view] : file.tensors()) {
    TensorData t{dtype, view.shape, {}};
    for (float x : view.to_float()) {
      const uint16_t bits = to_bits(x, dtype);
      const auto* bytes = reinterpret_cast<const std::byte*>(&bits);
      t.bytes.insert(t.bytes.end(), bytes, bytes + 2);
    }
    tensors[name] = std::move(t);
  }
  write_safetensors(out / "model.safetensors", tensors);
  for (const char* name : {"config.json", "tokenizer.model", "tokenizer.json"}) {
    if (std::filesystem::exists(source / name)) std::filesystem::copy_file(source / name, out / name);
  }
}

Matrix random_matrix(Eigen::Index rows, Eigen::Index cols, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  Matrix x(rows, cols);
  for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = u(rng);
  return x;
}

double relative_gap(double a, double b) { return std::abs(a - b) / std::max(std::abs(b), 1e-30); }

TEST(HalfWeights, ProductsWithA16BitOperandMatchADoublePrecisionProductOfItsValues) {
  std::mt19937 rng(11);
  // Packed shapes, thin ones Eigen keeps (widened a strip at a time), and a one-row decode step.
  const std::array<std::array<Eigen::Index, 3>, 6> shapes = {{{1, 300, 64}, {8, 600, 96}, {100, 70, 300},
                                                               {193, 1030, 257}, {40, 8, 64}, {64, 64, 600}}};
  for (const DType dtype : {DType::kBF16, DType::kF16}) {
    for (const auto& [m, n, k] : shapes) {
      for (const bool tb : {false, true}) {
        const Matrix a = random_matrix(m, k, rng);
        const HalfMatrix b = to_half(tb ? random_matrix(n, k, rng) : random_matrix(k, n, rng), dtype);
        const Matrix wide = b.to_float();
        Matrix c;
        weight_matmul(a, false, b, tb, c, 0.5f);
        const Eigen::MatrixXd want =
            0.5 * a.cast<double>() * (tb ? Eigen::MatrixXd(wide.cast<double>().transpose()) : wide.cast<double>());
        EXPECT_LT((c.cast<double>() - want).cwiseAbs().maxCoeff(), 4e-5 * std::sqrt(double(k)))
            << dtype_name(dtype) << " " << m << "×" << n << "×" << k << " tb=" << tb;
      }
    }
  }
}

TEST(HalfWeights, WideningIsExactForBothFormats) {
  for (const float x : {1.0f, -2.5f, 0.0078125f, 65504.0f, 6.1035156e-05f, 5.9604645e-08f}) {
    Matrix m(1, 1);
    m(0, 0) = x;
    EXPECT_EQ(to_half(m, DType::kF16).to_float()(0, 0), x);
  }
  Matrix m(1, 1);
  m(0, 0) = 3.0e38f;
  EXPECT_EQ(to_half(m, DType::kBF16).to_float()(0, 0), float(Eigen::bfloat16(3.0e38f)));
}

// The family fixtures stored bf16/fp16 (GQA, untied heads, Gemma's norms and soft-caps).
TEST(HalfWeights, FamilyForwardKeeping16BitWeightsEqualsTheWidenedPath) {
  const auto root = testing::source_dir() / "tests/engine/config_semantics";
  for (const char* name : {"qwen3_bf16", "smollm3_bf16", "gemma2_bf16", "gemma2_f16", "gemma3_text_f16"}) {
    const Model widened = Model::load(root / name);
    const Model kept = Model::load(root / name, {.keep_16bit = true});
    ASSERT_TRUE(kept.has_16bit()) << name;
    const std::vector<std::vector<TokenId>> tokens{{1, 5, 9, 2, 7, 3, 11, 4}};
    const Matrix want = forward(widened, TokenBatch::from_sequences(tokens));
    const Matrix got = forward(kept, TokenBatch::from_sequences(tokens));
    EXPECT_LE((got - want).cwiseAbs().maxCoeff(), 1e-5 * want.cwiseAbs().maxCoeff()) << name;
  }
}

TrainBatch batch_of(int vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  TrainBatch b;
  b.batch = 2;
  b.length = 32;
  for (int i = 0; i < b.batch * b.length; ++i) {
    b.inputs.push_back(static_cast<TokenId>(rng() % static_cast<uint64_t>(vocab)));
    b.targets.push_back(static_cast<TokenId>(rng() % static_cast<uint64_t>(vocab)));
  }
  b.weights.assign(b.inputs.size(), 1.0f);
  return b;
}

// Losses of 3 optimizer steps then the evaluation loss, on `model`.
std::vector<double> train_losses(Model model, const AdapterConfig& adapter) {
  TrainableModel tm(std::move(model), adapter, 5);
  AdamW optimizer(tm.parameters(), {});
  std::vector<double> losses;
  for (int step = 0; step < 3; ++step) {
    const TrainBatch batch = batch_of(tm.model().config.vocab_size, step);
    tm.zero_grad();
    const auto loss = tm.forward_backward(batch, 1.0f / float(batch.loss_tokens()), false, step);
    optimizer.step(tm.parameters(), 1e-3);
    losses.push_back(loss.sum / double(loss.tokens));
  }
  const auto eval = tm.loss(batch_of(tm.model().config.vocab_size, 99));
  losses.push_back(eval.sum / double(eval.tokens));
  return losses;
}

TEST(HalfWeights, TrainingOnA16BitCheckpointEqualsTheWidenedPathForEveryMethod) {
  testing::ScratchDir dir;
  for (const DType dtype : {DType::kBF16, DType::kF16}) {
    const auto folder = dir / dtype_name(dtype);
    write_16bit_copy(testing::bundled_model(), dtype, folder);
    for (const char* method : {"lora", "dora", "qlora", "full"}) {
      AdapterConfig adapter;
      if (std::string(method) == "qlora") {
        adapter.quantization = QuantizationConfig{};
        adapter.quantization->group_size = 32;
      } else {
        adapter.type = parse_fine_tune_type(method);
      }
      adapter.rank = 4;
      const Model kept = Model::load(folder, {.keep_16bit = true});
      ASSERT_TRUE(kept.blocks[0].q_proj.is_half());
      const std::vector<double> want = train_losses(Model::load(folder), adapter);
      const std::vector<double> got = train_losses(kept, adapter);
      for (std::size_t i = 0; i < want.size(); ++i) {
        EXPECT_LE(relative_gap(got[i], want[i]), 1e-5) << dtype_name(dtype) << " " << method << " step " << i;
      }
    }
  }
}

TEST(HalfWeights, FrozenBasesStay16BitAndFullFineTuningWidens) {
  testing::ScratchDir dir;
  write_16bit_copy(testing::bundled_model(), DType::kBF16, dir / "bf16");
  AdapterConfig lora;
  const TrainableModel adapted = load_trainable_model(dir / "bf16", lora, 1);
  EXPECT_TRUE(adapted.model().blocks[0].down_proj.is_half());
  EXPECT_TRUE(adapted.model().embed_tokens.size() == 0 && !adapted.model().embed_tokens_half.empty());
  AdapterConfig full;
  full.type = FineTuneType::kFull;
  const TrainableModel trained = load_trainable_model(dir / "bf16", full, 1);
  EXPECT_FALSE(trained.model().has_16bit());
  // Fingerprints (recorded in adapters) do not depend on the form the base is kept in.
  EXPECT_EQ(model_fingerprint(adapted.model()), model_fingerprint(Model::load(dir / "bf16")));
}

}  // namespace
}  // namespace lorafarm::engine
