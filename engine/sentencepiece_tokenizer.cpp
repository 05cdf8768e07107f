// sentencepiece `tokenizer.model` through libsentencepiece: the reference
// implementation for Llama-2-style models, so nothing is re-implemented here.
#include <sentencepiece_processor.h>

#include "engine/error.h"
#include "engine/tokenizer.h"

namespace lorafarm::engine {
namespace {

class SentencePieceTokenizer final : public Tokenizer {
 public:
  explicit SentencePieceTokenizer(const std::filesystem::path& model_file) {
    if (!std::filesystem::exists(model_file)) throw InvalidInput(model_file.string() + ": file not found");
    const auto status = processor_.Load(model_file.string());
    if (!status.ok()) {
      throw InvalidInput(model_file.string() + ": not a sentencepiece model (" + status.ToString() + ")");
    }
  }

  std::vector<TokenId> encode(std::string_view text) const override {
    std::vector<int> ids;
    const auto status = processor_.Encode(absl::string_view(text.data(), text.size()), &ids);
    if (!status.ok()) throw InvalidInput("sentencepiece could not encode the text: " + status.ToString());
    return {ids.begin(), ids.end()};
  }

  // Control tokens (<s>, </s>) decode to nothing; <unk> to " ⁇ ".
  std::string decode(std::span<const TokenId> ids) const override {
    for (const TokenId id : ids) check_id(id);
    std::string text;
    const auto status = processor_.Decode(std::vector<int>(ids.begin(), ids.end()), &text);
    if (!status.ok()) throw InvalidInput("sentencepiece could not decode the ids: " + status.ToString());
    return text;
  }

  int vocab_size() const override { return processor_.GetPieceSize(); }

  std::string piece(TokenId id) const override {
    check_id(id);
    return processor_.IdToPiece(id);
  }

  std::optional<TokenId> token_id(std::string_view piece) const override {
    // PieceToId answers unk_id for unknown pieces: check the round trip.
    const int id = processor_.PieceToId(absl::string_view(piece.data(), piece.size()));
    if (id < 0 || id >= vocab_size() || processor_.IdToPiece(id) != piece) return std::nullopt;
    return id;
  }

  std::optional<TokenId> model_bos() const { return optional_id(processor_.bos_id()); }
  std::optional<TokenId> model_eos() const { return optional_id(processor_.eos_id()); }

 private:
  std::optional<TokenId> optional_id(int id) const {
    if (id < 0 || id >= vocab_size()) return std::nullopt;
    return id;
  }
  void check_id(TokenId id) const {
    if (id < 0 || id >= vocab_size()) {
      throw InvalidInput("token id " + std::to_string(id) + " is not in the vocabulary (size " +
                         std::to_string(vocab_size()) + ")");
    }
  }

  sentencepiece::SentencePieceProcessor processor_;
};

}  // namespace

std::unique_ptr<Tokenizer> load_sentencepiece_tokenizer(const std::filesystem::path& model_file) {
  auto tokenizer = std::make_unique<SentencePieceTokenizer>(model_file);
  // The model's own <s>/</s>; Llama-family sentencepiece models start every
  // sequence with BOS. load_tokenizer refines this from the folder's configs.
  tokenizer->set_special_tokens(tokenizer->model_bos(), tokenizer->model_eos(), true);
  return tokenizer;
}

}  // namespace lorafarm::engine
