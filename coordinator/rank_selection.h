// Dynamic-rank trials (nested-rank LoRA, `lora_parameters.dynamic_rank`)
// report their objective at every rank of a ladder, e.g. `val_loss@r1`,
// `val_loss@r2`, ... One trial thus measures the whole rank curve of its
// configuration, and the search picks the rank from it instead of spending a
// trial per rank: the smallest rank whose value is within ε of the best.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string_view>

namespace lorafarm::coordinator {

struct RankChoice {
  int rank = 0;
  double value = 0;  // the metric at that rank
};

// `epsilon` is in the metric's units (0.01 nats of loss is about 1 % of
// perplexity); 0 picks the best rank. Nullopt when no `<metric>@rN` is present.
std::optional<RankChoice> choose_rank(const nlohmann::json& metrics, std::string_view metric, double epsilon, bool maximize);

}  // namespace lorafarm::coordinator
