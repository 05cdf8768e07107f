// Nested-rank LoRA: ladders, the per-prefix scale and the seeded prefix draw.
#include "engine/dynamic_rank.h"

#include <algorithm>
#include <cmath>

#include "engine/error.h"
#include "engine/optimizer.h"
#include "engine/trainable_model.h"

namespace lorafarm::engine {
namespace {

uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace

RankSampling parse_rank_sampling(std::string_view name) {
  if (name == "ladder") return RankSampling::kLadder;
  if (name == "uniform") return RankSampling::kUniform;
  if (name == "harmonic") return RankSampling::kHarmonic;
  if (name == "harmonic_sqrt") return RankSampling::kHarmonicSqrt;
  throw InvalidInput("lora_parameters.rank_sampling '" + std::string(name) +
                     "' is not one of ladder, uniform, harmonic, harmonic_sqrt");
}

const char* rank_sampling_name(RankSampling sampling) {
  switch (sampling) {
    case RankSampling::kLadder: return "ladder";
    case RankSampling::kUniform: return "uniform";
    case RankSampling::kHarmonic: return "harmonic";
    case RankSampling::kHarmonicSqrt: return "harmonic_sqrt";
  }
  return "?";
}

RankScale parse_rank_scale(std::string_view name) {
  if (name == "fixed_rank") return RankScale::kFixedRank;
  if (name == "dylora") return RankScale::kDyLora;
  throw InvalidInput("lora_parameters.rank_scale '" + std::string(name) + "' is not one of fixed_rank, dylora");
}

const char* rank_scale_name(RankScale rule) { return rule == RankScale::kFixedRank ? "fixed_rank" : "dylora"; }

std::vector<int> default_rank_ladder(int r_max) {
  std::vector<int> ladder;
  for (int b = 1; b < r_max; b *= 2) ladder.push_back(b);
  if (r_max >= 1) ladder.push_back(r_max);
  return ladder;
}

std::vector<int> rank_ladder(const AdapterConfig& config) {
  return config.rank_ladder.empty() ? default_rank_ladder(config.rank) : config.rank_ladder;
}

void validate_dynamic_rank(const AdapterConfig& config) {
  if (!config.dynamic_rank) {
    if (!config.rank_ladder.empty()) {
      throw InvalidInput("lora_parameters.rank_ladder is set but dynamic_rank is off (set dynamic_rank: true)");
    }
    if (config.rank_scale_exponent) {
      throw InvalidInput("lora_parameters.rank_scale_exponent is set but dynamic_rank is off (set dynamic_rank: true)");
    }
    return;
  }
  if (config.rank_scale_exponent && !(*config.rank_scale_exponent >= 0 && *config.rank_scale_exponent <= 2)) {
    throw InvalidInput("lora_parameters.rank_scale_exponent " + std::to_string(*config.rank_scale_exponent) +
                       " is outside 0..2 (1 = DyLoRA's alpha/b, 0.5 = rsLoRA's, 0 = the same scale for every b)");
  }
  if (config.type == FineTuneType::kFull) {
    throw InvalidInput("dynamic_rank needs an adapter (lora, dora or qlora), not full fine-tuning");
  }
  int previous = 0;
  for (int b : config.rank_ladder) {
    if (b < 1 || b > config.rank) {
      throw InvalidInput("lora_parameters.rank_ladder entry " + std::to_string(b) + " is outside 1.." +
                         std::to_string(config.rank) + " (the rank)");
    }
    if (b <= previous) {
      throw InvalidInput("lora_parameters.rank_ladder must be strictly increasing, got " + std::to_string(previous) +
                         " then " + std::to_string(b));
    }
    previous = b;
  }
}

float prefix_scale(const AdapterConfig& config, int b) {
  if (!config.dynamic_rank) return config.effective_scale();
  const auto fb = static_cast<float>(b);
  if (config.rank_scale_exponent) {
    return config.alpha.value_or(config.scale) / std::pow(fb, *config.rank_scale_exponent);
  }
  if (config.alpha) return config.rslora ? *config.alpha / std::sqrt(fb) : *config.alpha / fb;
  // mlx-lm's multiplier: kept as is by a fixed rank-b adapter, DyLoRA's α with α = s otherwise.
  return config.rank_scale == RankScale::kFixedRank ? config.scale : config.scale / fb;
}

int sample_prefix_rank(RankSampling sampling, std::span<const int> ladder, int r_max, uint64_t seed, int64_t step) {
  const uint64_t h = mix64(mix64(seed ^ 0xD1B54A32D192ED03ull) + static_cast<uint64_t>(step));
  if (sampling == RankSampling::kUniform) return 1 + static_cast<int>(h % static_cast<uint64_t>(r_max));
  if (sampling == RankSampling::kLadder) return ladder[static_cast<std::size_t>(h % ladder.size())];
  // Weighted over the ladder: 1/(i+1) or 1/√(i+1) for the i-th rank.
  const auto weight = [sampling](std::size_t i) {
    const auto n = static_cast<double>(i + 1);
    return sampling == RankSampling::kHarmonicSqrt ? 1.0 / std::sqrt(n) : 1.0 / n;
  };
  double total = 0;
  for (std::size_t i = 0; i < ladder.size(); ++i) total += weight(i);
  double u = static_cast<double>(h >> 11) * 0x1.0p-53 * total;  // uniform in [0, total)
  for (std::size_t i = 0; i + 1 < ladder.size(); ++i) {
    u -= weight(i);
    if (u < 0) return ladder[i];
  }
  return ladder.back();
}

NestedRankStep::NestedRankStep(int r_max) : uses_(static_cast<std::size_t>(std::max(r_max, 0)), 0) {}

void NestedRankStep::restore_uses(std::vector<int64_t> uses) {
  if (uses.size() != uses_.size()) {
    throw InvalidInput("nested-rank step counts: " + std::to_string(uses.size()) + " dimensions, the adapter has " +
                       std::to_string(uses_.size()));
  }
  uses_ = std::move(uses);
}

void NestedRankStep::apply(std::span<const ParamRef> params, AdamW& optimizer, int b, double lr) {
  if (b < 1 || b > static_cast<int>(uses_.size())) {
    throw InvalidInput("nested-rank step: prefix " + std::to_string(b) + " is outside 1.." +
                       std::to_string(uses_.size()));
  }
  optimizer.count_step();
  for (int d = 0; d < b; ++d) ++uses_[static_cast<std::size_t>(d)];
  const auto t = [&](int64_t d) { return uses_[static_cast<std::size_t>(d)]; };
  for (std::size_t i = 0; i < params.size(); ++i) {
    const ParamRef& p = params[i];
    const bool is_a = p.name.ends_with(".lora_a"), is_b = p.name.ends_with(".lora_b");
    if ((!is_a && !is_b) || p.shape.size() != 2) {
      optimizer.update_entries(p, i, 0, p.size, 1, optimizer.step_count(), lr);
      continue;
    }
    const int64_t rows = p.shape[0], cols = p.shape[1];
    if (is_a) {  // (in, r): column d is rank dimension d
      for (int64_t d = 0; d < b; ++d) optimizer.update_entries(p, i, d, rows, cols, t(d), lr);
    } else {  // (r, out): row d is rank dimension d
      for (int64_t d = 0; d < b; ++d) optimizer.update_entries(p, i, d * cols, cols, 1, t(d), lr);
    }
  }
}

}  // namespace lorafarm::engine
