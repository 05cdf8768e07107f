// Nested-rank (DyLoRA) LoRA: ladders, the per-prefix scale, the seeded prefix
// draw, the truncated forward against finite differences and against a
// fixed-rank adapter holding the same prefix, training determinism, the
// saved adapter truncated by `--rank`, and the CLI's rank metrics.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/adapter_io.h"
#include "engine/dynamic_rank.h"
#include "engine/error.h"
#include "engine/gradient_check.h"
#include "engine/optimizer.h"
#include "engine/tokenizer.h"
#include "engine/trainable_fixtures.h"
#include "engine/trainer.h"
#include "test_support.h"

namespace lorafarm::engine {
namespace {

using namespace testing_support;
using lorafarm::testing::ScratchDir;
using lorafarm::testing::bundled_data;
using lorafarm::testing::bundled_model;
using lorafarm::testing::run_lorafarm;

AdapterConfig dynamic_config(FineTuneType type, int rank, float scale) {
  AdapterConfig c;
  c.type = type;
  c.rank = rank;
  c.scale = scale;
  c.dynamic_rank = true;
  return c;
}

TEST(DynamicRank, DefaultLadderIsThePowersOfTwoThenTheRank) {
  EXPECT_EQ(default_rank_ladder(16), (std::vector<int>{1, 2, 4, 8, 16}));
  EXPECT_EQ(default_rank_ladder(12), (std::vector<int>{1, 2, 4, 8, 12}));
  EXPECT_EQ(default_rank_ladder(1), (std::vector<int>{1}));
  AdapterConfig c = dynamic_config(FineTuneType::kLora, 8, 20.0f);
  EXPECT_EQ(rank_ladder(c), (std::vector<int>{1, 2, 4, 8}));
  c.rank_ladder = {2, 6};
  EXPECT_EQ(rank_ladder(c), (std::vector<int>{2, 6}));
}

TEST(DynamicRank, PrefixScaleIsThatOfAFixedRankAdapterOrDyLorasAlphaOverB) {
  AdapterConfig c = dynamic_config(FineTuneType::kLora, 16, 20.0f);
  // dylora (default): α/b with α = mlx-lm's s, so rank 1 runs at s.
  EXPECT_FLOAT_EQ(prefix_scale(c, 1), 20.0f);
  EXPECT_FLOAT_EQ(prefix_scale(c, 4), 5.0f);
  EXPECT_FLOAT_EQ(prefix_scale(c, 16), 1.25f);
  c.alpha = 32.0f;  // PEFT: α/b
  EXPECT_FLOAT_EQ(prefix_scale(c, 16), 2.0f);
  EXPECT_FLOAT_EQ(prefix_scale(c, 4), 8.0f);
  c.rslora = true;  // α/√b
  EXPECT_FLOAT_EQ(prefix_scale(c, 16), 8.0f);
  EXPECT_FLOAT_EQ(prefix_scale(c, 4), 16.0f);
  // fixed_rank: mlx-lm's multiplier does not depend on the rank; alpha still gives α/b.
  c.rank_scale = RankScale::kFixedRank;
  EXPECT_FLOAT_EQ(prefix_scale(c, 4), 16.0f);
  c.alpha.reset();
  EXPECT_FLOAT_EQ(prefix_scale(c, 1), 20.0f);
  EXPECT_FLOAT_EQ(prefix_scale(c, 16), 20.0f);
  // Without dynamic_rank: the plain effective scale.
  c.dynamic_rank = false;
  EXPECT_FLOAT_EQ(prefix_scale(c, 4), 20.0f);
}

TEST(DynamicRank, PrefixScaleExponentGivesAlphaOverBToThePower) {
  AdapterConfig c = dynamic_config(FineTuneType::kLora, 16, 10.0f);
  c.rank_scale_exponent = 0.25f;  // α = s = 10 without alpha
  EXPECT_FLOAT_EQ(prefix_scale(c, 1), 10.0f);
  EXPECT_FLOAT_EQ(prefix_scale(c, 16), 5.0f);
  c.alpha = 8.0f;
  c.rslora = true;  // the exponent wins over rsLoRA's √b and over rank_scale
  c.rank_scale = RankScale::kFixedRank;
  EXPECT_FLOAT_EQ(prefix_scale(c, 16), 4.0f);
  c.rank_scale_exponent = 1.0f;
  EXPECT_FLOAT_EQ(prefix_scale(c, 4), 2.0f);
  c.rank_scale_exponent = 0.0f;
  EXPECT_FLOAT_EQ(prefix_scale(c, 4), 8.0f);
}

// Two parameters shaped like one layer's lora_a (in 3, r 4) and lora_b (r 4, out 2),
// with gradient 1 everywhere.
struct FakeAdapter {
  std::vector<float> a = std::vector<float>(12, 0.5f), b = std::vector<float>(8, 0.0f);
  std::vector<float> ga = std::vector<float>(12, 1.0f), gb = std::vector<float>(8, 1.0f);
  std::vector<ParamRef> params() {
    return {{"x.lora_a", {3, 4}, a.data(), ga.data(), 12}, {"x.lora_b", {4, 2}, b.data(), gb.data(), 8}};
  }
};

TEST(DynamicRank, NestedStepMovesOnlyThePrefixWithItsOwnBiasCorrection) {
  FakeAdapter f;
  const auto params = f.params();
  AdamW optimizer(params, AdamWOptions{});
  NestedRankStep nested(4);
  // Prefixes 4, 1, 1, 2: dimension 0 takes part in 4 steps, 1 in 2, 2 and 3 in 1.
  for (int b : {4, 1, 1, 2}) nested.apply(params, optimizer, b, 0.1);
  EXPECT_EQ(optimizer.step_count(), 4);
  EXPECT_EQ(nested.uses(0), 4);
  EXPECT_EQ(nested.uses(1), 2);
  EXPECT_EQ(nested.uses(3), 1);
  // A constant gradient of 1 gives m̂ = v̂ = 1 at every step when each entry is
  // corrected by its own count: every use moves it by lr (ε aside). The
  // optimizer's count (4) would have moved dimensions 2 and 3 by ~1.9·lr.
  for (int row = 0; row < 3; ++row) {
    EXPECT_NEAR(f.a[row * 4 + 0], 0.5f - 0.4f, 1e-5f);
    EXPECT_NEAR(f.a[row * 4 + 1], 0.5f - 0.2f, 1e-5f);
    EXPECT_NEAR(f.a[row * 4 + 3], 0.5f - 0.1f, 1e-5f);
  }
  EXPECT_NEAR(f.b[0 * 2 + 1], -0.4f, 1e-5f);
  EXPECT_NEAR(f.b[2 * 2 + 0], -0.1f, 1e-5f);
  // A step with prefix 1 leaves the other dimensions' values and moments alone.
  const std::vector<float> a_before = f.a;
  const std::vector<float> m_before = optimizer.first_moments()[0];
  nested.apply(params, optimizer, 1, 0.1);
  for (int row = 0; row < 3; ++row) {
    for (int d = 1; d < 4; ++d) {
      EXPECT_EQ(f.a[row * 4 + d], a_before[row * 4 + d]);
      EXPECT_EQ(optimizer.first_moments()[0][row * 4 + d], m_before[row * 4 + d]);
    }
  }
  EXPECT_THROW(nested.apply(params, optimizer, 5, 0.1), InvalidInput);
}

TEST(DynamicRank, PrefixDrawIsSeededAndCoversTheLadderEvenly) {
  const std::vector<int> ladder = {1, 2, 4, 8, 16};
  std::map<int, int> ladder_counts, uniform_counts;
  constexpr int kDraws = 5000;
  for (int64_t step = 1; step <= kDraws; ++step) {
    const int b = sample_prefix_rank(RankSampling::kLadder, ladder, 16, 7, step);
    EXPECT_EQ(b, sample_prefix_rank(RankSampling::kLadder, ladder, 16, 7, step));
    ++ladder_counts[b];
    ++uniform_counts[sample_prefix_rank(RankSampling::kUniform, ladder, 16, 7, step)];
  }
  ASSERT_EQ(ladder_counts.size(), 5u);
  for (const auto& [b, n] : ladder_counts) {
    EXPECT_TRUE(std::find(ladder.begin(), ladder.end(), b) != ladder.end()) << b;
    EXPECT_NEAR(n, kDraws / 5, kDraws / 5 * 0.12) << "rank " << b;
  }
  ASSERT_EQ(uniform_counts.size(), 16u);
  EXPECT_EQ(uniform_counts.begin()->first, 1);
  EXPECT_EQ(uniform_counts.rbegin()->first, 16);
  for (const auto& [b, n] : uniform_counts) EXPECT_NEAR(n, kDraws / 16, kDraws / 16 * 0.25) << "rank " << b;
  // harmonic: weight 1/(i+1) for the i-th ladder rank (1, 1/2, ... 1/5 of 137/60).
  std::map<int, int> harmonic;
  for (int64_t step = 1; step <= kDraws; ++step) ++harmonic[sample_prefix_rank(RankSampling::kHarmonic, ladder, 16, 7, step)];
  for (std::size_t i = 0; i < ladder.size(); ++i) {
    const double expected = kDraws * (60.0 / 137.0) / static_cast<double>(i + 1);
    EXPECT_NEAR(harmonic[ladder[i]], expected, 0.15 * expected) << "rank " << ladder[i];
  }
  // harmonic_sqrt: weight 1/√(i+1).
  std::map<int, int> harmonic_sqrt;
  for (int64_t step = 1; step <= kDraws; ++step)
    ++harmonic_sqrt[sample_prefix_rank(RankSampling::kHarmonicSqrt, ladder, 16, 7, step)];
  double total = 0;
  for (std::size_t i = 0; i < ladder.size(); ++i) total += 1.0 / std::sqrt(static_cast<double>(i + 1));
  for (std::size_t i = 0; i < ladder.size(); ++i) {
    const double expected = kDraws / total / std::sqrt(static_cast<double>(i + 1));
    EXPECT_NEAR(harmonic_sqrt[ladder[i]], expected, 0.15 * expected) << "rank " << ladder[i];
  }
  EXPECT_EQ(parse_rank_sampling("harmonic_sqrt"), RankSampling::kHarmonicSqrt);
  EXPECT_STREQ(rank_sampling_name(RankSampling::kHarmonicSqrt), "harmonic_sqrt");
  // Another seed draws another sequence.
  int same = 0;
  for (int64_t step = 1; step <= 100; ++step) {
    same += sample_prefix_rank(RankSampling::kLadder, ladder, 16, 7, step) ==
            sample_prefix_rank(RankSampling::kLadder, ladder, 16, 8, step);
  }
  EXPECT_LT(same, 45);
}

// The truncated forward equals a fixed-rank-b adapter holding the prefix
// (A[:, :b], B[:b, :]) at scale prefix_scale(b); its gradients match finite
// differences, and the unused suffix gets exactly zero gradient.
void check_truncated_prefix(FineTuneType type, RankScale rule) {
  constexpr int kRank = 4, kPrefix = 2;
  AdapterConfig config = dynamic_config(type, kRank, 2.0f);
  config.rank_scale = rule;
  TrainableModel tm(sharpened_tiny_model(), config, 1);
  perturb_adapters(tm, 200);
  const TrainBatch batch = tiny_batch();
  const double full_loss = mean_loss(tm, batch);
  tm.set_active_rank(kPrefix);
  EXPECT_EQ(tm.active_rank(), kPrefix);
  const double prefix_loss = mean_loss(tm, batch);
  EXPECT_GT(std::abs(prefix_loss - full_loss), 1e-3);  // the suffix did matter

  AdapterConfig fixed_config = config;
  fixed_config.dynamic_rank = false;
  fixed_config.rank = kPrefix;
  fixed_config.scale = prefix_scale(config, kPrefix);
  TrainableModel fixed(sharpened_tiny_model(), fixed_config, 1);
  for (int block = 0; block < tm.model().config.num_layers; ++block) {
    for (int m = 0; m < 7; ++m) {
      const AdaptedLinear& from = tm.layer(block, static_cast<Module>(m));
      AdaptedLinear& to = fixed.layer(block, static_cast<Module>(m));
      to.lora_a().array() = from.lora_a().leftCols(kPrefix).array();
      to.lora_b().array() = from.lora_b().topRows(kPrefix).array();
      if (from.is_dora()) to.magnitude().array() = from.magnitude().array();
    }
  }
  EXPECT_NEAR(prefix_loss, mean_loss(fixed, batch), 1e-5);

  tm.zero_grad();
  const auto l = tm.forward_backward(batch, 1.0f / static_cast<float>(batch.loss_tokens()), false, 0);
  EXPECT_NEAR(l.sum / static_cast<double>(l.tokens), prefix_loss, 1e-5);
  // The prefix's gradients are the fixed rank-b adapter's (whose own are checked in trainable_model_test).
  fixed.zero_grad();
  fixed.forward_backward(batch, 1.0f / static_cast<float>(batch.loss_tokens()), false, 0);
  for (std::size_t i = 0; i < tm.parameters().size(); ++i) {
    const ParamRef& p = tm.parameters()[i];
    const ParamRef& q = fixed.parameters()[i];
    const bool is_a = p.name.ends_with(".lora_a");
    for (int64_t j = 0; j < q.size; ++j) {
      // A (in, r) vs (in, b): map column-wise; B's and m's prefix is the leading block.
      const int64_t k = is_a ? (j / kPrefix) * kRank + j % kPrefix : j;
      ASSERT_NEAR(p.grad[k], q.grad[j], 1e-5f + 1e-4f * std::abs(q.grad[j])) << p.name << " " << j;
    }
  }
  int checked = 0;
  for (const ParamRef& p : tm.parameters()) {
    const bool is_a = p.name.ends_with(".lora_a"), is_b = p.name.ends_with(".lora_b");
    if (is_a || is_b) {
      const int64_t rows = p.shape[0], cols = p.shape[1];
      for (int64_t i = 0; i < rows; ++i) {
        for (int64_t j = 0; j < cols; ++j) {
          const bool used = is_a ? j < kPrefix : i < kPrefix;
          const float g = p.grad[i * cols + j];
          if (!used) {
            ASSERT_EQ(g, 0.0f) << p.name << " [" << i << ", " << j << "] is outside the prefix";
          }
        }
      }
      // DoRA's A and B see a stop-gradient norm, which finite differences do not.
      if (type == FineTuneType::kDora) continue;
    }
    // The fixed_rank rule runs this prefix at twice the scale, where the tiny model's curvature
    // puts an h = 1e-2 central difference off by ~7 % at one A entry; its gradients are
    // checked above as exactly the fixed-rank adapter's instead.
    if (rule == RankScale::kFixedRank) continue;
    expect_gradient(p.values(), p.grads(), [&] { return mean_loss(tm, batch); }, p.name, 6);
    ++checked;
  }
  if (rule == RankScale::kDyLora) {
    EXPECT_GT(checked, 0);
  }
  tm.set_active_rank(kRank);
  EXPECT_EQ(mean_loss(tm, batch), full_loss);
}

TEST(DynamicRankGradient, LoraPrefixMatchesFixedRankAndFiniteDifferences) {
  for (RankScale rule : {RankScale::kFixedRank, RankScale::kDyLora}) {
    SCOPED_TRACE(rank_scale_name(rule));
    check_truncated_prefix(FineTuneType::kLora, rule);
  }
}

TEST(DynamicRankGradient, DoraPrefixMatchesFixedRankAndFiniteDifferencesOnMagnitude) {
  check_truncated_prefix(FineTuneType::kDora, RankScale::kDyLora);
}

TEST(DynamicRankGradient, MergedWeightUsesThePrefix) {
  TrainableModel tm(sharpened_tiny_model(), dynamic_config(FineTuneType::kLora, 4, 2.0f), 1);
  perturb_adapters(tm, 200);
  const AdaptedLinear& l = tm.layer(1, kQ);
  // The whole adapter runs at α/r_max = 2/4, a prefix of 2 at 2/2.
  Matrix expected = l.base_weight() + 0.5f * (l.lora_a() * l.lora_b()).transpose();
  EXPECT_LT((l.merged_weight() - expected).cwiseAbs().maxCoeff(), 1e-5f);
  tm.set_active_rank(2);
  expected = l.base_weight() + 1.0f * (l.lora_a().leftCols(2) * l.lora_b().topRows(2)).transpose();
  EXPECT_LT((l.merged_weight() - expected).cwiseAbs().maxCoeff(), 1e-5f);
}

void expect_invalid(const std::function<void()>& f, const std::string& fragment) {
  try {
    f();
    ADD_FAILURE() << "expected InvalidInput containing '" << fragment << "'";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(DynamicRankErrors, NameTheFieldOrValue) {
  AdapterConfig full = dynamic_config(FineTuneType::kFull, 4, 2.0f);
  expect_invalid([&] { TrainableModel(sharpened_tiny_model(), full, 1); }, "dynamic_rank needs an adapter");
  AdapterConfig big = dynamic_config(FineTuneType::kLora, 4, 2.0f);
  big.rank_ladder = {1, 8};
  expect_invalid([&] { TrainableModel(sharpened_tiny_model(), big, 1); }, "rank_ladder entry 8 is outside 1..4");
  AdapterConfig order = dynamic_config(FineTuneType::kLora, 4, 2.0f);
  order.rank_ladder = {2, 1};
  expect_invalid([&] { TrainableModel(sharpened_tiny_model(), order, 1); }, "strictly increasing");
  AdapterConfig off;
  off.rank_ladder = {1, 2};
  expect_invalid([&] { TrainableModel(sharpened_tiny_model(), off, 1); }, "dynamic_rank is off");
  TrainableModel plain(sharpened_tiny_model(), AdapterConfig{}, 1);
  expect_invalid([&] { plain.set_active_rank(2); }, "needs an adapter trained with dynamic_rank");
  TrainableModel nested(sharpened_tiny_model(), dynamic_config(FineTuneType::kLora, 4, 2.0f), 1);
  expect_invalid([&] { nested.set_active_rank(5); }, "rank 5 is out of range for this adapter: use 1..4");
  expect_invalid([&] { nested.set_active_rank(0); }, "rank 0 is out of range");
  expect_invalid([] { parse_rank_sampling("geometric"); }, "rank_sampling 'geometric'");
  expect_invalid([] { parse_rank_scale("sqrt"); }, "rank_scale 'sqrt' is not one of fixed_rank, dylora");
  AdapterConfig exponent_off;
  exponent_off.rank_scale_exponent = 0.5f;
  expect_invalid([&] { TrainableModel(sharpened_tiny_model(), exponent_off, 1); }, "rank_scale_exponent is set but dynamic_rank is off");
  AdapterConfig exponent_big = dynamic_config(FineTuneType::kLora, 4, 2.0f);
  exponent_big.rank_scale_exponent = 3.0f;
  expect_invalid([&] { TrainableModel(sharpened_tiny_model(), exponent_big, 1); }, "rank_scale_exponent 3.000000 is outside 0..2");
  nlohmann::json j = {{"lora_parameters", {{"rank_ladder", "1,2"}}}};
  expect_invalid([&] { TrainConfig::from_json(j); }, "lora_parameters.rank_ladder has the wrong type");
}

// --- training ----------------------------------------------------------------

void write_small_data(const std::filesystem::path& dir, int train, int valid) {
  std::filesystem::create_directories(dir);
  for (const auto& [split, count] : {std::pair{"train", train}, {"valid", valid}, {"test", valid}}) {
    std::ifstream in(bundled_data("fortunes") / (std::string(split) + ".jsonl"));
    std::ofstream out(dir / (std::string(split) + ".jsonl"));
    std::string line;
    for (int i = 0; i < count && std::getline(in, line); ++i) out << line << "\n";
  }
}

TrainConfig small_dynamic_config(const ScratchDir& dir) {
  write_small_data(dir / "data", 48, 16);
  TrainConfig c;
  c.model = bundled_model().string();
  c.data = (dir / "data").string();
  c.adapter.rank = 8;
  c.adapter.dynamic_rank = true;
  c.iters = 10;
  c.batch_size = 4;
  c.learning_rate = 1e-3;
  c.max_seq_length = 96;
  c.steps_per_report = 5;
  c.steps_per_eval = 5;
  c.val_batches = 2;
  c.save_every = 0;
  c.threads = 2;
  c.adapter_path = (dir / "adapter").string();
  return c;
}

TEST(DynamicRankTraining, SameSeedIsBitIdenticalAndTheSavedAdapterTruncatesToTheLadderScores) {
  ScratchDir dir;
  TrainConfig c = small_dynamic_config(dir);
  c.grad_accumulation_steps = 2;
  std::vector<EvalReport> evals;
  TrainCallbacks callbacks;
  callbacks.on_eval = [&](const EvalReport& r) { evals.push_back(r); };
  const TrainResult a = train(c, callbacks);
  const TrainResult b = train(c);
  ASSERT_EQ(a.step_losses.size(), 10u);
  for (std::size_t i = 0; i < a.step_losses.size(); ++i) EXPECT_EQ(a.step_losses[i], b.step_losses[i]) << "step " << i;
  EXPECT_EQ(a.val_loss, b.val_loss);
  EXPECT_EQ(a.trainable_params, 5 * 1156 * 8);  // the whole r_max adapter trains

  // Validation at step 5 and the final one, each at 1, 2, 4, 8; r8 is the usual val_loss.
  ASSERT_EQ(evals.size(), 2u);
  for (const EvalReport& e : evals) {
    ASSERT_EQ(e.ranks.size(), 4u);
    for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(e.ranks[i].rank, 1 << i);
    EXPECT_EQ(e.ranks.back().loss, e.val_loss);
  }
  ASSERT_EQ(a.val_ranks.size(), 4u);
  ASSERT_EQ(a.test_ranks.size(), 4u);
  EXPECT_EQ(a.test_ranks.back().loss, *a.test_loss);

  // The adapter is saved whole, with the ladder; truncated on load it scores its rank's number.
  const nlohmann::json saved =
      nlohmann::json::parse(lorafarm::testing::read_file(dir / "adapter" / "adapter_config.json"));
  EXPECT_EQ(saved["lora_parameters"]["rank"], 8);
  EXPECT_EQ(saved["lora_parameters"]["dynamic_rank"], true);
  EXPECT_EQ(saved["lora_parameters"]["rank_ladder"], (std::vector<int>{1, 2, 4, 8}));
  const auto tokenizer = load_tokenizer(bundled_model());
  DataOptions d;
  d.max_seq_length = c.max_seq_length;
  const auto valid = load_split(c.data, "valid", *tokenizer, d);
  TrainableModel reloaded = load_adapted_model(Model::load(bundled_model()), c.adapter_path);
  EXPECT_TRUE(reloaded.config().dynamic_rank);
  for (const RankLoss& r : a.val_ranks) {
    reloaded.set_active_rank(r.rank);
    EXPECT_EQ(evaluate_loss(reloaded, valid, c.batch_size, -1).loss, r.loss) << "rank " << r.rank;
  }
  // The PEFT layout keeps the ladder too.
  save_adapter(dir / "peft", reloaded, AdapterFormat::kPeft);
  const AdapterConfig peft = read_adapter_config(dir / "peft");
  EXPECT_TRUE(peft.dynamic_rank);
  EXPECT_EQ(peft.rank_ladder, (std::vector<int>{1, 2, 4, 8}));
  EXPECT_FALSE(peft.rank_scale_exponent);
}

TEST(DynamicRankTraining, ScaleExponentIsSavedAndUsedWhenTheAdapterIsTruncated) {
  ScratchDir dir;
  TrainConfig c = small_dynamic_config(dir);
  c.iters = 4;
  c.adapter.rank_scale_exponent = 0.2f;
  c.adapter.rank_sampling = RankSampling::kHarmonicSqrt;
  EXPECT_EQ(TrainConfig::from_json(c.to_json()).adapter.rank_scale_exponent, 0.2f);
  const TrainResult result = train(c);
  const nlohmann::json saved =
      nlohmann::json::parse(lorafarm::testing::read_file(dir / "adapter" / "adapter_config.json"));
  EXPECT_FLOAT_EQ(saved["lora_parameters"]["rank_scale_exponent"].get<float>(), 0.2f);
  TrainableModel reloaded = load_adapted_model(Model::load(bundled_model()), c.adapter_path);
  ASSERT_TRUE(reloaded.config().rank_scale_exponent);
  EXPECT_FLOAT_EQ(prefix_scale(reloaded.config(), 8), 20.0f / std::pow(8.0f, 0.2f));
  const auto tokenizer = load_tokenizer(bundled_model());
  DataOptions d;
  d.max_seq_length = c.max_seq_length;
  const auto valid = load_split(c.data, "valid", *tokenizer, d);
  reloaded.set_active_rank(2);
  EXPECT_EQ(evaluate_loss(reloaded, valid, c.batch_size, -1).loss, result.val_ranks[1].loss);
  save_adapter(dir / "peft", reloaded, AdapterFormat::kPeft);
  EXPECT_EQ(read_adapter_config(dir / "peft").rank_scale_exponent, 0.2f);
}

TEST(DynamicRankTraining, OnlyTheSampledPrefixMovesWhenTheLadderIsOneRank) {
  // A ladder of {2}: every step trains the prefix 2, so A[:, 2:] and B[2:, :]
  // (B starts at zero, A at its init) never change.
  ScratchDir dir;
  TrainConfig c = small_dynamic_config(dir);
  c.adapter.rank = 4;
  c.adapter.rank_ladder = {2};
  c.iters = 4;
  train(c);
  TrainableModel trained = load_adapted_model(Model::load(bundled_model()), c.adapter_path);
  AdapterConfig init_config = c.adapter;
  TrainableModel initial(Model::load(bundled_model()), init_config, c.seed);
  for (int block = 0; block < 5; ++block) {
    for (int m = 0; m < 7; ++m) {
      const AdaptedLinear& t = trained.layer(block, static_cast<Module>(m));
      const AdaptedLinear& i = initial.layer(block, static_cast<Module>(m));
      EXPECT_TRUE(t.lora_a().rightCols(2) == i.lora_a().rightCols(2)) << block << " " << m;
      EXPECT_TRUE(t.lora_b().bottomRows(2).isZero(0.0f)) << block << " " << m;
      EXPECT_FALSE(t.lora_b().topRows(2).isZero(0.0f)) << block << " " << m;
    }
  }
}

// --- the CLI -----------------------------------------------------------------

TEST(DynamicRankCli, JsonLinesCarryAFiniteRankCurveAndEvalTruncates) {
  ScratchDir dir;
  write_small_data(dir / "data", 64, 16);
  const std::string data = (dir / "data").string();
  auto train_args = [&](const std::string& iters, const std::string& lr, const std::string& adapter) {
    return std::vector<std::string>{"train", "--model", bundled_model().string(), "--data", data, "--iters", iters,
                                    "--batch-size", "4", "--max-seq-length", "64", "--steps-per-report", "12",
                                    "--steps-per-eval", "12", "--val-batches", "2", "--adapter-path",
                                    (dir / adapter).string(), "--threads", "1", "--learning-rate", lr, "--rank", "16",
                                    "--dynamic-rank", "--json"};
  };
  const auto r = run_lorafarm(train_args("24", "1e-3", "adapter"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The base model's validation perplexity as training scores it: one step at a negligible rate.
  const auto base = run_lorafarm(train_args("1", "1e-12", "base"));
  ASSERT_EQ(base.exit_code, 0) << base.err;
  const std::string last = base.out.substr(base.out.rfind('\n', base.out.size() - 2) + 1);
  const double base_ppl = nlohmann::json::parse(last)["val_ppl@r1"].get<double>();
  EXPECT_GT(base_ppl, 20.0);

  std::istringstream lines(r.out);
  std::string line;
  int evals = 0;
  nlohmann::json final_line;
  while (std::getline(lines, line)) {
    const auto j = nlohmann::json::parse(line);
    if (j.contains("final")) final_line = j;
    if (!j.contains("val_loss")) continue;
    ++evals;
    for (int b : {1, 2, 4, 8, 16}) {
      const std::string loss = "val_loss@r" + std::to_string(b), ppl = "val_ppl@r" + std::to_string(b);
      ASSERT_TRUE(j.contains(loss) && j.contains(ppl)) << line;
      EXPECT_TRUE(std::isfinite(j[loss].get<double>())) << line;
      EXPECT_NEAR(j[ppl].get<double>(), std::exp(j[loss].get<double>()), 1e-9 * j[ppl].get<double>());
      // By the end every prefix has learned something: each rank beats the base model.
      if (j.value("step", 0) == 24) {
        EXPECT_LT(j[ppl].get<double>(), base_ppl) << loss << " " << line;
      }
    }
    EXPECT_FALSE(j.contains("val_loss@r3"));
    EXPECT_EQ(j["val_loss@r16"], j["val_loss"]);  // the usual numbers are the full rank's
  }
  EXPECT_EQ(evals, 3);  // step 12 and the final validation (in the final line as well)
  ASSERT_TRUE(final_line.is_object()) << r.out;
  for (int b : {1, 2, 4, 8, 16}) {
    EXPECT_TRUE(final_line.contains("test_ppl@r" + std::to_string(b))) << final_line;
  }
  // `eval --rank` truncates the saved adapter: rank 16 is the whole adapter, rank 1 another model that
  // still beats the base. (eval scores without EOS, as the data README does, so its numbers are not the
  // training validation's; the engine test above checks truncation against those.)
  auto eval_ppl = [&](std::vector<std::string> extra, const std::string& adapter = "adapter") {
    std::vector<std::string> args = {"eval", "--model", bundled_model().string(), "--data", data, "--split", "valid",
                                     "--max-seq-length", "64", "--adapter", (dir / adapter).string(), "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    const auto e = run_lorafarm(args);
    EXPECT_EQ(e.exit_code, 0) << e.err;
    return e.exit_code == 0 ? nlohmann::json::parse(e.out)["perplexity"].get<double>() : 0.0;
  };
  const double whole = eval_ppl({}), r16 = eval_ppl({"--rank", "16"}), r1 = eval_ppl({"--rank", "1"});
  EXPECT_EQ(r16, whole);
  EXPECT_GT(std::abs(r1 - whole), 1e-3 * whole);
  EXPECT_LT(r1, eval_ppl({"--rank", "1"}, "base"));
  const auto bad = run_lorafarm({"eval", "--model", bundled_model().string(), "--data", data, "--adapter",
                                 (dir / "adapter").string(), "--rank", "17"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("rank 17 is out of range for this adapter: use 1..16"), std::string::npos) << bad.err;
  const auto gen = run_lorafarm({"generate", "--model", bundled_model().string(), "--adapter",
                                 (dir / "adapter").string(), "--rank", "2", "--prompt", "Once", "--max-tokens", "5"});
  EXPECT_EQ(gen.exit_code, 0) << gen.err;
}

}  // namespace
}  // namespace lorafarm::engine

namespace lorafarm::engine {
namespace {

// Issue 5, must-show 5: one nested trial (r_max 16, the script's recommended
// nested settings, seed 0, 300 iterations) against five fixed-rank adapters
// with the same budget, every rank within 5 % (~40 s on 2 cores; the table
// and the other seeds are in docs/training.md).
TEST(DynamicRankSlow, RankCurveAgainstFixedRankAdapters) {
  const std::string tol = std::getenv("DYNAMIC_RANK_TOL") ? std::getenv("DYNAMIC_RANK_TOL") : "0.05";
  const auto r = lorafarm::testing::run_process(
      {"/usr/bin/env", "TOL=" + tol, "JOBS=2", (lorafarm::testing::source_dir() / "scripts" / "dynamic-rank-check.sh").string(),
       lorafarm::testing::lorafarm_binary().parent_path().string()});
  ASSERT_FALSE(r.out.empty()) << r.err;
  const nlohmann::json table = nlohmann::json::parse(r.out);
  ASSERT_EQ(table["ranks"].size(), 5u) << r.out;
  for (const auto& row : table["ranks"]) {
    EXPECT_LT(row["dynamic_val_ppl"].get<double>(), 40.0) << row;  // far below the base model's 70
    EXPECT_LE(std::abs(row["relative_difference"].get<double>()), std::stod(tol)) << row;
  }
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(table["all_within"], true) << r.out;
}

}  // namespace
}  // namespace lorafarm::engine
