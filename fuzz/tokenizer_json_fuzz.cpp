// Fuzzes the Hugging Face tokenizer.json loader (model, added tokens,
// normalizer, pre-tokenizer, decoder, post-processor) and then runs the
// tokenizer it built over a fixed text, so a loader that accepts an
// inconsistent file is caught when the pieces are used.
#include <algorithm>
#include <string_view>

#include "engine/error.h"
#include "engine/tokenizer.h"
#include "fuzz/fuzz_target.h"

LORAFARM_FUZZ_TARGET(tokenizer_json) {
  using namespace lorafarm;
  static fuzz::MemoryFile file("tokenizer_json_fuzz");
  static constexpr std::string_view kText =
      "Once upon a time,  there was a <s> cat. It's 2024!\n\tÜber naïve 東京 😀 </s><unk>  ";
  const auto& path = file.write({data, size});
  try {
    const auto tokenizer = engine::load_hf_tokenizer(path);
    const auto ids = tokenizer->encode(kText);
    (void)tokenizer->decode(ids);
    for (const engine::TokenId id : ids) (void)tokenizer->piece(id);
    const int shown = std::min(tokenizer->vocab_size(), 64);
    for (int id = 0; id < shown; ++id) {
      try {
        (void)tokenizer->piece(id);
      } catch (const engine::InvalidInput&) {
        // ids below vocab_size may be gaps in a sparse vocabulary
      }
    }
    (void)tokenizer->token_id("<s>");
  } catch (const engine::InvalidInput&) {
    // the expected outcome for a bad file
  }
  return 0;
}
