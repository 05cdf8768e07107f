// The preference losses of Direct Preference Optimization (Rafailov et al.,
// 2023, arXiv:2305.18290) for one pair, with their derivatives, and the
// validation metrics TRL's DPOTrainer logs. Pure arithmetic in double.
//
//   h = (log π(y_c|x) − log π_ref(y_c|x)) − (log π(y_r|x) − log π_ref(y_r|x))
//   sigmoid: L = −(1−ε)·log σ(βh) − ε·log σ(−βh)      (ε = label smoothing: cDPO)
//   robust:  L = ((1−ε)·(−log σ(βh)) + ε·log σ(−βh)) / (1−2ε)   (Chowdhury et al., 2024)
//   ipo:     L = (h − 1/(2β))²                                  (Azar et al., 2023)
// Implicit rewards r = β·(log π − log π_ref) of the chosen and rejected completions.
#pragma once

#include <cstdint>
#include <string_view>

namespace lorafarm::engine {

enum class DpoLossType { kSigmoid, kRobust, kIpo };

// "sigmoid" | "robust" | "ipo"; InvalidInput naming the value otherwise.
DpoLossType parse_dpo_loss_type(std::string_view name);
const char* dpo_loss_type_name(DpoLossType type);

struct DpoOptions {
  double beta = 0.1;
  DpoLossType loss_type = DpoLossType::kSigmoid;
  double label_smoothing = 0;  // sigmoid and robust only, in [0, 0.5)

  // IPO compares length-averaged log-probabilities (as TRL does); the others sums.
  bool averages_log_probs() const { return loss_type == DpoLossType::kIpo; }
  // InvalidInput naming the option.
  void validate() const;
};

// One pair's log-probabilities of its completions (sums over completion
// tokens, or their means when the loss averages).
struct PairLogProbs {
  double policy_chosen = 0, policy_rejected = 0;
  double reference_chosen = 0, reference_rejected = 0;
};

struct PairLoss {
  double loss = 0;
  double d_policy_chosen = 0;    // ∂L/∂ log π(y_c|x)
  double d_policy_rejected = 0;  // ∂L/∂ log π(y_r|x) = −∂L/∂ log π(y_c|x)
  double reward_chosen = 0, reward_rejected = 0;
};

PairLoss dpo_pair_loss(const PairLogProbs& lp, const DpoOptions& options);

// Means over the pairs of a split, as TRL logs them (rewards/accuracies,
// rewards/margins, logps/chosen, logps/rejected). A tie of the two rewards
// (e.g. every pair before the first step, when the policy is the reference)
// counts as half right, so an untrained policy scores 0.5, not 0.
struct DpoMetrics {
  double loss = 0;
  double reward_accuracy = 0;
  double reward_margin = 0;  // mean of r_c − r_r
  double rewards_chosen = 0, rewards_rejected = 0;
  double logps_chosen = 0, logps_rejected = 0;  // the policy's
  int64_t pairs = 0;
};

class DpoMetricsSum {
 public:
  void add(const PairLogProbs& lp, const PairLoss& loss);
  DpoMetrics mean() const;  // InvalidInput when no pair was added

 private:
  DpoMetrics sum_;
};

}  // namespace lorafarm::engine
