// The training config of an engine trial: the spec's fixed settings with the
// trial's parameters merged in. Search-space names are flat (`rank`), while
// the training config nests some options as mlx-lm does
// (`lora_parameters.rank`), so the usual flat names are mapped into place.
#pragma once

#include <nlohmann/json.hpp>

namespace lorafarm::worker {

// Flat name -> nested path used by `lorafarm train --config`:
//   method, fine_tune_type             -> fine_tune_type
//   rank, scale, alpha, rslora, dropout, keys -> lora_parameters.<name>
//   bits, group_size                   -> quantization.<name>
//   quant_mode                         -> quantization.mode
//   dynamic_rank                       -> lora_parameters.dynamic_rank
// Any other name is a top-level training option. The same mapping applies to
// `fixed` (so "method": "lora" works there too); objects are merged key by
// key, so a parameter overrides only what it names.
nlohmann::json engine_trial_config(const nlohmann::json& fixed, const nlohmann::json& params);

}  // namespace lorafarm::worker
