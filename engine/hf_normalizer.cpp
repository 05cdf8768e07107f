// The normalizers that Llama-family tokenizer.json files use. Replace with a
// Regex pattern supports only the space-run patterns such files contain
// (matched by hand: std::regex has no Oniguruma line anchors).
#include "engine/hf_normalizer.h"

#include <vector>

#include "engine/error.h"
#include "engine/json_file.h"
#include "engine/unicode.h"

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

// A regex made of runs of spaces: ` +`, ` {2,}`, `^ +`, ` +$`, `^ +| +$`.
// `^`/`$` are line anchors, as in Oniguruma (the tokenizers library's regex
// engine): they also match after / before a "\n".
class ReplaceSpaceRuns final : public HfNormalizer {
 public:
  enum class Where { kAnywhere, kLineStart, kLineEnd, kLineStartOrEnd };
  ReplaceSpaceRuns(std::size_t min_run, Where where, std::string content)
      : min_run_(min_run), where_(where), content_(std::move(content)) {}

  void normalize(std::string& text) const override {
    std::string out;
    std::size_t pos = 0;
    while (pos < text.size()) {
      if (text[pos] != ' ') {
        out += text[pos++];
        continue;
      }
      std::size_t end = pos;
      while (end < text.size() && text[end] == ' ') ++end;
      if (matches(text, pos, end)) {
        out += content_;
      } else {
        out.append(text, pos, end - pos);
      }
      pos = end;
    }
    text = std::move(out);
  }

 private:
  bool matches(const std::string& text, std::size_t begin, std::size_t end) const {
    if (end - begin < min_run_) return false;
    const bool line_start = begin == 0 || text[begin - 1] == '\n';
    const bool line_end = end == text.size() || text[end] == '\n';
    switch (where_) {
      case Where::kAnywhere: return true;
      case Where::kLineStart: return line_start;
      case Where::kLineEnd: return line_end;
      case Where::kLineStartOrEnd: return line_start || line_end;
    }
    return false;
  }

  std::size_t min_run_;
  Where where_;
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

// NFC is applied as the identity: exact for text already in NFC (nearly all
// text; see docs/tokenizers.md), without composition tables.
class Identity final : public HfNormalizer {
 public:
  void normalize(std::string&) const override {}
};

std::unique_ptr<HfNormalizer> parse_replace(const nlohmann::json& spec, const std::string& where) {
  const nlohmann::json& pattern = json_field(spec, "pattern", where);
  std::string content = json_string(spec, "content", where);
  if (pattern.is_object() && pattern.contains("String")) {
    return std::make_unique<ReplaceString>(json_string(pattern, "String", where + ".pattern"), std::move(content));
  }
  if (pattern.is_object() && pattern.contains("Regex")) {
    const std::string regex = json_string(pattern, "Regex", where + ".pattern");
    using W = ReplaceSpaceRuns::Where;
    if (regex == " +") return std::make_unique<ReplaceSpaceRuns>(1, W::kAnywhere, std::move(content));
    if (regex == " {2,}") return std::make_unique<ReplaceSpaceRuns>(2, W::kAnywhere, std::move(content));
    if (regex == "^ +") return std::make_unique<ReplaceSpaceRuns>(1, W::kLineStart, std::move(content));
    if (regex == " +$") return std::make_unique<ReplaceSpaceRuns>(1, W::kLineEnd, std::move(content));
    if (regex == "^ +| +$") return std::make_unique<ReplaceSpaceRuns>(1, W::kLineStartOrEnd, std::move(content));
    throw InvalidInput(where + ".pattern.Regex: unsupported regex \"" + regex +
                       "\" (supported: \" +\", \" {2,}\", \"^ +\", \" +$\", \"^ +| +$\")");
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
  if (type == "NFC") return std::make_unique<Identity>();
  throw InvalidInput(where + ".type: unsupported normalizer \"" + type +
                     "\" (supported: Sequence, Replace, Prepend, Strip, NFC)");
}

}  // namespace lorafarm::engine
