// Token-weighted cross-entropy over length-sorted batches.
#include "engine/evaluate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>

#include "engine/error.h"
#include "engine/forward.h"
#include "engine/jsonl.h"

namespace lorafarm::engine {
namespace {

// −log softmax(row)[target], accumulated in double.
double cross_entropy(const float* row, Eigen::Index vocab, TokenId target) {
  float max_logit = row[0];
  for (Eigen::Index j = 1; j < vocab; ++j) max_logit = std::max(max_logit, row[j]);
  double sum = 0;
  for (Eigen::Index j = 0; j < vocab; ++j) sum += std::exp(static_cast<double>(row[j]) - max_logit);
  return std::log(sum) + max_logit - row[target];
}

// Adds the summed cross-entropy and the count of predicted tokens of one batch.
void score_batch(const Model& model, std::span<const std::vector<TokenId>> sequences, double& loss, int64_t& tokens) {
  const TokenBatch batch = TokenBatch::from_sequences(sequences);
  const Matrix logits = forward(model, batch);
  for (int b = 0; b < batch.batch; ++b) {
    for (int t = 0; t + 1 < batch.lengths[static_cast<std::size_t>(b)]; ++t) {
      const Eigen::Index row = static_cast<Eigen::Index>(b) * batch.length + t;
      loss += cross_entropy(&logits(row, 0), logits.cols(), batch.at(b, t + 1));
      ++tokens;
    }
  }
}

}  // namespace

EvalResult evaluate_sequences(const Model& model, std::vector<std::vector<TokenId>> samples,
                              const EvalOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  const int limit = std::min(options.max_seq_length, model.config.max_position_embeddings);
  for (auto& s : samples) {
    if (static_cast<int>(s.size()) > limit) s.resize(static_cast<std::size_t>(limit));
  }
  std::erase_if(samples, [](const auto& s) { return s.size() < 2; });
  if (samples.empty()) throw InvalidInput("nothing to evaluate: no sample has two or more tokens");
  // Length-sorted batches waste little on padding; the sum does not depend on order.
  std::stable_sort(samples.begin(), samples.end(), [](const auto& a, const auto& b) { return a.size() < b.size(); });

  // Batches run in parallel, one per thread (each forward pass then runs its
  // GEMMs single-threaded): coarse tasks keep small models from drowning in
  // synchronisation. Per-batch sums are added in order, so the result does not
  // depend on the thread count.
  const auto batch_size = static_cast<std::size_t>(std::max(1, options.batch_size));
  const std::size_t batches = (samples.size() + batch_size - 1) / batch_size;
  std::vector<double> batch_loss(batches, 0.0);
  std::vector<int64_t> batch_tokens(batches, 0);
  std::exception_ptr error;  // exceptions may not cross an OpenMP region
#pragma omp parallel for schedule(dynamic, 1)
  for (std::size_t i = 0; i < batches; ++i) {
    try {
      score_batch(model, std::span(samples).subspan(i * batch_size, std::min(batch_size, samples.size() - i * batch_size)),
                  batch_loss[i], batch_tokens[i]);
    } catch (...) {
#pragma omp critical
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
  EvalResult result;
  double total_loss = 0;
  for (std::size_t i = 0; i < batches; ++i) {
    total_loss += batch_loss[i];
    result.tokens += batch_tokens[i];
  }
  result.samples = static_cast<int64_t>(samples.size());
  result.loss = total_loss / static_cast<double>(result.tokens);
  result.perplexity = std::exp(result.loss);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  result.tokens_per_second = result.seconds > 0 ? static_cast<double>(result.tokens) / result.seconds : 0;
  return result;
}

std::vector<std::vector<TokenId>> load_text_split(const std::filesystem::path& folder, const std::string& split,
                                                  const Tokenizer& tokenizer, int max_seq_length, bool add_eos) {
  const auto path = folder / (split + ".jsonl");
  if (!std::filesystem::exists(path)) throw InvalidInput(path.string() + ": no such file");
  std::vector<std::vector<TokenId>> samples;
  for (const JsonlRecord& record : read_jsonl(path)) {
    const auto text = record.value.find("text");
    if (text == record.value.end() || !text->is_string()) {
      throw InvalidInput(path.string() + ":" + std::to_string(record.line) + ": expected a string field 'text'");
    }
    std::vector<TokenId> ids;
    if (tokenizer.add_bos()) ids.push_back(*tokenizer.bos_id());
    const std::vector<TokenId> encoded = tokenizer.encode(text->get<std::string>());
    ids.insert(ids.end(), encoded.begin(), encoded.end());
    if (add_eos && tokenizer.eos_id() && (ids.empty() || ids.back() != *tokenizer.eos_id())) ids.push_back(*tokenizer.eos_id());
    if (static_cast<int>(ids.size()) > max_seq_length) ids.resize(static_cast<std::size_t>(max_seq_length));
    samples.push_back(std::move(ids));
  }
  if (samples.empty()) throw InvalidInput(path.string() + ": no records");
  return samples;
}

EvalResult evaluate_split(const Model& model, const Tokenizer& tokenizer, const std::filesystem::path& folder,
                          const std::string& split, const EvalOptions& options) {
  return evaluate_sequences(model, load_text_split(folder, split, tokenizer, options.max_seq_length, options.add_eos), options);
}

}  // namespace lorafarm::engine
