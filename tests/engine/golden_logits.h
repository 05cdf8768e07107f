// The config-semantics fixtures (tests/engine/config_semantics/): random
// models with real config field names and golden logits from the float64
// reference written from transformers' semantics; how far lorafarm's forward
// lands from them.
#pragma once

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/forward.h"
#include "engine/model.h"
#include "test_support.h"

namespace lorafarm::engine::testing_support {

inline std::filesystem::path semantics_fixture(const std::string& name) {
  return lorafarm::testing::source_dir() / "tests/engine/config_semantics" / name;
}

inline Matrix forward_one(const Model& model, const std::vector<TokenId>& tokens) {
  const std::vector<std::vector<TokenId>> one{tokens};
  return forward(model, TokenBatch::from_sequences(one));
}

// The largest |lorafarm − reference| over every logit of the fixture's cases.
inline double deviation_from_reference(const Model& model, const std::string& fixture) {
  std::ifstream in(semantics_fixture(fixture) / "golden.json");
  const nlohmann::json golden = nlohmann::json::parse(in);
  double worst = 0;
  for (const nlohmann::json& c : golden["cases"]) {
    const Matrix logits = forward_one(model, c["tokens"].get<std::vector<TokenId>>());
    for (Eigen::Index t = 0; t < logits.rows(); ++t) {
      const auto expected = c["logits"][static_cast<std::size_t>(t)].get<std::vector<double>>();
      for (Eigen::Index v = 0; v < logits.cols(); ++v) {
        worst = std::max(worst, std::abs(logits(t, v) - expected[static_cast<std::size_t>(v)]));
      }
    }
  }
  return worst;
}

}  // namespace lorafarm::engine::testing_support
