// Nested-rank LoRA (DyLoRA, Valipour et al. 2023, arXiv:2210.07558): each
// training step uses only a prefix b of the rank dimensions (A[:, :b],
// B[:b, :]) with the scale re-derived for b, so one adapter trained to r_max
// holds a usable adapter at every rank of a ladder.
//
// Scale of prefix b (`rank_scale`):
//  - "dylora" (default): DyLoRA's α/b (rsLoRA α/√b). α is PEFT's alpha when
//    given, else mlx-lm's multiplier s: rank 1 then runs at s, as a fixed
//    rank-1 adapter would, and a prefix's update is the mean of its rank-1
//    terms rather than their sum, which keeps the nested models consistent.
//    (Reading s as α/r_max instead, s_b = s·r_max/b, is this rule with
//    scale s·r_max; with s = 20, r_max = 16 it diverges at learning rate 1e-3
//    on the bundled model, docs/training.md.)
//  - "fixed_rank": what a fixed rank-b adapter with the same options uses —
//    mlx-lm's s for every b; with alpha, α/b as above.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/parameter.h"

namespace lorafarm::engine {

struct AdapterConfig;
class AdamW;

// How a step picks its prefix b: uniformly over the ladder (default: every
// rank that is evaluated gets the same share of steps), uniformly over
// 1..r_max as in the DyLoRA paper, or over the ladder with weight 1/(i+1)
// for its i-th rank ("harmonic": more steps for the small ranks, which gain
// least from the steps of the others), or with weight 1/√(i+1)
// ("harmonic_sqrt": between the two).
enum class RankSampling { kLadder, kUniform, kHarmonic, kHarmonicSqrt };
RankSampling parse_rank_sampling(std::string_view name);
const char* rank_sampling_name(RankSampling sampling);

enum class RankScale { kDyLora, kFixedRank };
RankScale parse_rank_scale(std::string_view name);
const char* rank_scale_name(RankScale rule);

// 1, 2, 4, ... below r_max, then r_max itself.
std::vector<int> default_rank_ladder(int r_max);

// The configured ladder, or the default one for the config's rank.
std::vector<int> rank_ladder(const AdapterConfig& config);

// InvalidInput naming the field when dynamic-rank settings are inconsistent
// (full fine-tuning, a ladder entry outside 1..rank or not increasing).
void validate_dynamic_rank(const AdapterConfig& config);

// The multiplier of prefix b (see the rules above); without dynamic_rank, the
// config's effective scale.
float prefix_scale(const AdapterConfig& config, int b);

// The prefix of optimizer step `step`: a hash of (seed, step), so runs with
// the same seed pick the same ranks whatever the thread count, and a resumed
// run picks them as the uninterrupted one would.
int sample_prefix_rank(RankSampling sampling, std::span<const int> ladder, int r_max, uint64_t seed, int64_t step);

// The optimizer step of nested-rank training. Only prefix b moves: the
// columns of lora_a and rows of lora_b below b (DyLoRA updates only the
// truncated parameters; otherwise Adam's momentum from the last step that
// used a dimension keeps moving it for ~1/(1−β1) steps in which it takes no
// part, and the high ranks overshoot). Each rank dimension is bias-corrected
// by the number of steps it has taken part in (AdamW::update_entries): with
// the optimizer's count, a dimension used in a fifth of the steps would move
// about twice as far as Adam means it to. Other parameters (DoRA
// magnitudes) take the plain AdamW step.
class NestedRankStep {
 public:
  explicit NestedRankStep(int r_max);

  void apply(std::span<const ParamRef> params, AdamW& optimizer, int b, double lr);

  // Steps in which rank dimension d (0-based) took part.
  int64_t uses(int d) const { return uses_[static_cast<std::size_t>(d)]; }
  // Every dimension's count, and setting them back (training checkpoints).
  const std::vector<int64_t>& all_uses() const { return uses_; }
  void restore_uses(std::vector<int64_t> uses);

 private:
  std::vector<int64_t> uses_;
};

}  // namespace lorafarm::engine
