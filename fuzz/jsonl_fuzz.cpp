// Fuzzes the JSON-lines data reader as training sees it: the input is a
// train.jsonl, read and tokenized by load_split (text, prompt/completion and
// messages records, prompt masking, truncation) with the bundled stories260K
// tokenizer, then batched.
#include <unistd.h>

#include <cstdlib>

#include "engine/dataset.h"
#include "engine/error.h"
#include "engine/tokenizer.h"
#include "fuzz/fuzz_target.h"

namespace {

// A folder whose train.jsonl is a symlink to the in-memory input file.
struct DataFolder {
  lorafarm::fuzz::MemoryFile file{"jsonl_fuzz"};
  std::filesystem::path folder;
  DataFolder() {
    std::string pattern = (std::filesystem::temp_directory_path() / "lorafarm-jsonl-fuzz-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    folder = pattern;
    std::filesystem::create_symlink(file.path(), folder / "train.jsonl");
  }
  ~DataFolder() {
    std::error_code ignored;
    std::filesystem::remove_all(folder, ignored);
  }
};

const lorafarm::engine::Tokenizer& bundled_tokenizer() {
  static const auto tokenizer = [] {
    auto t = lorafarm::engine::load_hf_tokenizer(std::filesystem::path(LORAFARM_SOURCE_DIR) /
                                                 "examples/models/stories260K/tokenizer.json");
    t->set_special_tokens(1, 2, true);
    return t;
  }();
  return *tokenizer;
}

}  // namespace

LORAFARM_FUZZ_TARGET(jsonl) {
  using namespace lorafarm;
  static DataFolder data_folder;
  const engine::Tokenizer& tokenizer = bundled_tokenizer();
  data_folder.file.write({data, size});
  engine::DataOptions options;
  options.max_seq_length = 48;
  options.mask_prompt = true;
  try {
    const auto samples = engine::load_split(data_folder.folder, "train", tokenizer, options);
    for (const auto& s : samples) {
      fuzz::check(!s.tokens.empty() && static_cast<int>(s.tokens.size()) <= options.max_seq_length);
      fuzz::check(s.prompt_tokens >= 0 && s.prompt_tokens < static_cast<int>(s.tokens.size()));
    }
    for (const auto& group : engine::length_sorted_batches(samples, 2, true)) {
      // every sample keeps at least one token that carries loss
      fuzz::check(engine::make_batch(samples, group).loss_tokens() >= static_cast<std::int64_t>(group.size()));
    }
  } catch (const engine::InvalidInput&) {
    // the expected outcome for a bad file
  }
  return 0;
}
