// tokenizer.json normalizers: Sequence, Replace (string or regex), Prepend,
// Strip, and the Unicode normal forms (ICU, engine/unicode_normalization.h).
#include "engine/hf_normalizer.h"

#include <vector>

#include "engine/error.h"
#include "engine/json_file.h"
#include "engine/tokenizer_regex.h"
#include "engine/unicode.h"
#include "engine/unicode_normalization.h"

namespace lorafarm::engine {
namespace {

class SequenceNormalizer final : public HfNormalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<HfNormalizer>> steps) : steps_(std::move(steps)) {}
  void normalize(std::string& text) const override {
    for (const auto& step : steps_) step->normalize(text);
  }

 private:
  std::vector<std::unique_ptr<HfNormalizer>> steps_;
};

class ReplaceString final : public HfNormalizer {
 public:
  ReplaceString(std::string pattern, std::string content) : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void normalize(std::string& text) const override {
    if (pattern_.empty()) return;
    std::string out;
    std::size_t pos = 0;
    for (std::size_t hit; (hit = text.find(pattern_, pos)) != std::string::npos; pos = hit + pattern_.size()) {
      out.append(text, pos, hit - pos);
      out += content_;
    }
    out.append(text, pos);
    text = std::move(out);
  }

 private:
  std::string pattern_;
  std::string content_;
};

// Replace every match of a regex (Oniguruma syntax, as the library reads it).
class ReplaceRegex final : public HfNormalizer {
 public:
  ReplaceRegex(std::string_view pattern, std::string content) : regex_(pattern), content_(std::move(content)) {}
  void normalize(std::string& text) const override {
    std::string out;
    std::size_t pos = 0;
    for (const ByteSpan& match : regex_.find_all(text)) {
      out.append(text, pos, match.begin - pos);
      out += content_;
      pos = match.end;
    }
    out.append(text, pos);
    text = std::move(out);
  }

 private:
  TokenizerRegex regex_;
  std::string content_;
};

class Prepend final : public HfNormalizer {
 public:
  explicit Prepend(std::string prefix) : prefix_(std::move(prefix)) {}
  void normalize(std::string& text) const override {
    if (!text.empty()) text.insert(0, prefix_);
  }

 private:
  std::string prefix_;
};

class Strip final : public HfNormalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}
  void normalize(std::string& text) const override {
    std::size_t begin = 0, end = text.size();
    if (left_) {
      while (begin < end) {
        const unicode::CodePoint c = unicode::decode_at(text, begin);
        if (!unicode::is_whitespace(c.value)) break;
        begin += c.length;
      }
    }
    if (right_) {
      while (end > begin) {
        std::size_t start = end - 1;
        while (start > begin && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
        if (!unicode::is_whitespace(unicode::decode_at(text, start).value)) break;
        end = start;
      }
    }
    text = text.substr(begin, end - begin);
  }

 private:
  bool left_;
  bool right_;
};

class UnicodeNormalForm final : public HfNormalizer {
 public:
  explicit UnicodeNormalForm(unicode::NormalForm form) : form_(form) {}
  void normalize(std::string& text) const override { text = unicode::normalize(text, form_); }

 private:
  unicode::NormalForm form_;
};

std::unique_ptr<HfNormalizer> parse_replace(const nlohmann::json& spec, const std::string& where) {
  const nlohmann::json& pattern = json_field(spec, "pattern", where);
  std::string content = json_string(spec, "content", where);
  if (pattern.is_object() && pattern.contains("String")) {
    return std::make_unique<ReplaceString>(json_string(pattern, "String", where + ".pattern"), std::move(content));
  }
  if (pattern.is_object() && pattern.contains("Regex")) {
    const std::string regex = json_string(pattern, "Regex", where + ".pattern");
    try {
      return std::make_unique<ReplaceRegex>(regex, std::move(content));
    } catch (const InvalidInput& e) {
      throw InvalidInput(where + ".pattern.Regex: " + e.what());
    }
  }
  throw InvalidInput(where + ".pattern: expected {\"String\": ...} or {\"Regex\": ...}, got " + pattern.dump());
}

}  // namespace

std::unique_ptr<HfNormalizer> parse_hf_normalizer(const nlohmann::json& spec, const std::string& where) {
  if (spec.is_null()) return nullptr;
  const std::string type = json_string(spec, "type", where);
  if (type == "Sequence") {
    const nlohmann::json& list = json_field(spec, "normalizers", where);
    if (!list.is_array()) throw InvalidInput(where + ".normalizers: expected an array");
    std::vector<std::unique_ptr<HfNormalizer>> steps;
    for (std::size_t i = 0; i < list.size(); ++i) {
      auto step = parse_hf_normalizer(list[i], where + ".normalizers[" + std::to_string(i) + "]");
      if (step) steps.push_back(std::move(step));
    }
    return std::make_unique<SequenceNormalizer>(std::move(steps));
  }
  if (type == "Replace") return parse_replace(spec, where);
  if (type == "Prepend") return std::make_unique<Prepend>(json_string(spec, "prepend", where));
  if (type == "Strip") {
    return std::make_unique<Strip>(json_bool(spec, "strip_left", true, where), json_bool(spec, "strip_right", true, where));
  }
  using unicode::NormalForm;
  if (type == "NFC") return std::make_unique<UnicodeNormalForm>(NormalForm::kNfc);
  if (type == "NFD") return std::make_unique<UnicodeNormalForm>(NormalForm::kNfd);
  if (type == "NFKC") return std::make_unique<UnicodeNormalForm>(NormalForm::kNfkc);
  if (type == "NFKD") return std::make_unique<UnicodeNormalForm>(NormalForm::kNfkd);
  throw InvalidInput(where + ".type: unsupported normalizer \"" + type +
                     "\" (supported: Sequence, Replace, Prepend, Strip, NFC, NFD, NFKC, NFKD)");
}

}  // namespace lorafarm::engine
