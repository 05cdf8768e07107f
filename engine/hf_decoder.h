// tokenizer.json `decoder`: turns token strings back into text (Sequence,
// Replace, ByteFallback, Fuse, Strip, ByteLevel, Metaspace).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace lorafarm::engine {

class HfDecoder {
 public:
  virtual ~HfDecoder() = default;
  // Rewrites the list of token strings; the text is their concatenation.
  virtual void decode(std::vector<std::string>& tokens) const = 0;
};

// nullptr for a null spec; InvalidInput naming `where` for anything unsupported.
std::unique_ptr<HfDecoder> parse_hf_decoder(const nlohmann::json& spec, const std::string& where);

}  // namespace lorafarm::engine
