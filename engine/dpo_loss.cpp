// DPO, robust DPO and IPO losses of one pair, their derivatives, and split means.
#include "engine/dpo_loss.h"

#include <cmath>
#include <string>

#include "engine/error.h"

namespace lorafarm::engine {
namespace {

// log σ(x) without overflow: −log(1 + e^−x).
double log_sigmoid(double x) { return x >= 0 ? -std::log1p(std::exp(-x)) : x - std::log1p(std::exp(x)); }
double sigmoid(double x) { return x >= 0 ? 1 / (1 + std::exp(-x)) : std::exp(x) / (1 + std::exp(x)); }

}  // namespace

DpoLossType parse_dpo_loss_type(std::string_view name) {
  if (name == "sigmoid") return DpoLossType::kSigmoid;
  if (name == "robust") return DpoLossType::kRobust;
  if (name == "ipo") return DpoLossType::kIpo;
  throw InvalidInput("loss_type '" + std::string(name) + "' is not sigmoid, robust or ipo");
}

const char* dpo_loss_type_name(DpoLossType type) {
  switch (type) {
    case DpoLossType::kSigmoid: return "sigmoid";
    case DpoLossType::kRobust: return "robust";
    case DpoLossType::kIpo: return "ipo";
  }
  return "sigmoid";
}

void DpoOptions::validate() const {
  if (!(beta > 0) || !std::isfinite(beta)) throw InvalidInput("beta must be positive, got " + std::to_string(beta));
  if (!(label_smoothing >= 0 && label_smoothing < 0.5)) {
    throw InvalidInput("label_smoothing must be in [0, 0.5), got " + std::to_string(label_smoothing));
  }
  if (loss_type == DpoLossType::kIpo && label_smoothing != 0) {
    throw InvalidInput("label_smoothing applies to the sigmoid and robust losses, not ipo");
  }
}

PairLoss dpo_pair_loss(const PairLogProbs& lp, const DpoOptions& o) {
  const double chosen_ratio = lp.policy_chosen - lp.reference_chosen;
  const double rejected_ratio = lp.policy_rejected - lp.reference_rejected;
  const double h = chosen_ratio - rejected_ratio;
  const double b = o.beta, e = o.label_smoothing;
  PairLoss out;
  double d_h = 0;  // ∂L/∂h
  switch (o.loss_type) {
    case DpoLossType::kSigmoid:
      out.loss = -(1 - e) * log_sigmoid(b * h) - e * log_sigmoid(-b * h);
      d_h = -(1 - e) * b * sigmoid(-b * h) + e * b * sigmoid(b * h);
      break;
    case DpoLossType::kRobust:
      out.loss = (-(1 - e) * log_sigmoid(b * h) + e * log_sigmoid(-b * h)) / (1 - 2 * e);
      d_h = (-(1 - e) * b * sigmoid(-b * h) - e * b * sigmoid(b * h)) / (1 - 2 * e);
      break;
    case DpoLossType::kIpo: {
      const double gap = h - 1 / (2 * b);
      out.loss = gap * gap;
      d_h = 2 * gap;
      break;
    }
  }
  out.d_policy_chosen = d_h;
  out.d_policy_rejected = -d_h;
  out.reward_chosen = b * chosen_ratio;
  out.reward_rejected = b * rejected_ratio;
  return out;
}

void DpoMetricsSum::add(const PairLogProbs& lp, const PairLoss& loss) {
  sum_.loss += loss.loss;
  if (loss.reward_chosen > loss.reward_rejected) {
    sum_.reward_accuracy += 1;
  } else if (loss.reward_chosen == loss.reward_rejected) {
    sum_.reward_accuracy += 0.5;
  }
  sum_.reward_margin += loss.reward_chosen - loss.reward_rejected;
  sum_.rewards_chosen += loss.reward_chosen;
  sum_.rewards_rejected += loss.reward_rejected;
  sum_.logps_chosen += lp.policy_chosen;
  sum_.logps_rejected += lp.policy_rejected;
  sum_.pairs += 1;
}

DpoMetrics DpoMetricsSum::mean() const {
  if (sum_.pairs == 0) throw InvalidInput("no preference pair was evaluated");
  const double n = static_cast<double>(sum_.pairs);
  DpoMetrics m = sum_;
  for (double* v : {&m.loss, &m.reward_accuracy, &m.reward_margin, &m.rewards_chosen, &m.rewards_rejected,
                    &m.logps_chosen, &m.logps_rejected}) {
    *v /= n;
  }
  return m;
}

}  // namespace lorafarm::engine
