// tokenizer.json `pre_tokenizer`: splits normalized text into the words BPE
// works on (Sequence, Split with a known regex or a string, ByteLevel,
// Metaspace, Digits).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace lorafarm::engine {

struct PreToken {
  std::string text;
  bool at_text_start = false;  // begins at offset 0 of the input (Metaspace "first")
};

class HfPreTokenizer {
 public:
  virtual ~HfPreTokenizer() = default;
  // Replaces each piece by its sub-pieces, in order.
  virtual void split(std::vector<PreToken>& pieces) const = 0;
};

// nullptr for a null spec; InvalidInput naming `where` for anything unsupported.
std::unique_ptr<HfPreTokenizer> parse_hf_pre_tokenizer(const nlohmann::json& spec, const std::string& where);

}  // namespace lorafarm::engine
