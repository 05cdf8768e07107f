// Mean next-token cross-entropy and perplexity over a data split, weighted by
// tokens as mlx-lm's evaluate does: Σ losses / Σ predicted tokens.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "engine/model.h"
#include "engine/tokenizer.h"

namespace lorafarm::engine {

struct EvalOptions {
  int max_seq_length = 2048;  // longer samples are cut (mlx-lm's default length)
  int batch_size = 8;
  bool add_eos = false;  // evaluate_split: score EOS after each text (load_text_split)
};

struct EvalResult {
  double loss = 0;        // mean cross-entropy, nats per predicted token
  double perplexity = 0;  // exp(loss)
  int64_t tokens = 0;     // predicted tokens
  int64_t samples = 0;
  double seconds = 0;
  double tokens_per_second = 0;
};

// `samples` are token sequences (BOS included where the tokenizer adds one);
// position t predicts token t+1, so a sequence of n tokens scores n−1.
EvalResult evaluate_sequences(const Model& model, std::vector<std::vector<TokenId>> samples,
                              const EvalOptions& options);

// Tokenizes the `text` records of `{folder}/{split}.jsonl`: BOS (when the
// tokenizer adds one) + ids (+ EOS with add_eos, unless the text ends with
// it, as training's data sets do), cut at max_seq_length.
std::vector<std::vector<TokenId>> load_text_split(const std::filesystem::path& folder, const std::string& split,
                                                  const Tokenizer& tokenizer, int max_seq_length, bool add_eos = false);

EvalResult evaluate_split(const Model& model, const Tokenizer& tokenizer, const std::filesystem::path& folder,
                          const std::string& split, const EvalOptions& options);

}  // namespace lorafarm::engine
