// tokenizer.json `normalizer`: the text transformations applied before
// pre-tokenization (Sequence, Replace, Prepend, Strip, NFC).
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

namespace lorafarm::engine {

class HfNormalizer {
 public:
  virtual ~HfNormalizer() = default;
  virtual void normalize(std::string& text) const = 0;
};

// nullptr for a null spec; InvalidInput naming `where` and the type for
// anything unsupported.
std::unique_ptr<HfNormalizer> parse_hf_normalizer(const nlohmann::json& spec, const std::string& where);

}  // namespace lorafarm::engine
