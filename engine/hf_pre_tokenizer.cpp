// Pre-tokenizers. A split finds "matches" in a piece and the behaviour says
// how matches and the text between them become pieces, as in the tokenizers
// library's SplitDelimiterBehavior.
#include "engine/hf_pre_tokenizer.h"

#include <functional>

#include "engine/error.h"
#include "engine/json_file.h"
#include "engine/tokenizer_regex.h"
#include "engine/unicode.h"

namespace lorafarm::engine {
namespace {

enum class Behavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

using Matcher = std::function<std::vector<ByteSpan>(std::string_view)>;

// Cuts `text` at `matches` according to `behavior`.
std::vector<ByteSpan> split_spans(std::string_view text, const std::vector<ByteSpan>& matches, Behavior behavior,
                                  bool invert) {
  // Every stretch of the text, tagged matched or not.
  struct Part {
    ByteSpan span;
    bool matched;
  };
  std::vector<Part> parts;
  std::size_t pos = 0;
  for (const ByteSpan& m : matches) {
    if (m.begin > pos) parts.push_back({{pos, m.begin}, invert});
    if (m.end > m.begin) parts.push_back({m, !invert});
    pos = m.end;
  }
  if (pos < text.size()) parts.push_back({{pos, text.size()}, invert});

  std::vector<ByteSpan> out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const Part& part = parts[i];
    const bool previous_matched = i > 0 && parts[i - 1].matched;
    bool extend = false;  // glue this part onto the last piece
    switch (behavior) {
      case Behavior::kRemoved:
        if (part.matched) continue;
        break;
      case Behavior::kIsolated:
        break;
      case Behavior::kContiguous:
        extend = part.matched && previous_matched;
        break;
      case Behavior::kMergedWithPrevious:  // a match joins the unmatched text before it
        extend = part.matched && i > 0 && !previous_matched;
        break;
      case Behavior::kMergedWithNext:  // a match joins the unmatched text after it
        extend = !part.matched && previous_matched;
        break;
    }
    if (extend) {
      out.back().end = part.span.end;
    } else {
      out.push_back(part.span);
    }
  }
  return out;
}

void split_pieces(std::vector<PreToken>& pieces, const Matcher& matcher, Behavior behavior, bool invert) {
  std::vector<PreToken> out;
  for (const PreToken& piece : pieces) {
    const std::vector<ByteSpan> spans = split_spans(piece.text, matcher(piece.text), behavior, invert);
    for (const ByteSpan& span : spans) {
      out.push_back({piece.text.substr(span.begin, span.end - span.begin), piece.at_text_start && span.begin == 0});
    }
  }
  pieces = std::move(out);
}

Behavior parse_behavior(const std::string& name, const std::string& where) {
  if (name == "Removed") return Behavior::kRemoved;
  if (name == "Isolated") return Behavior::kIsolated;
  if (name == "MergedWithPrevious") return Behavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return Behavior::kMergedWithNext;
  if (name == "Contiguous") return Behavior::kContiguous;
  throw InvalidInput(where + ".behavior: unknown split behaviour \"" + name + "\"");
}

std::vector<ByteSpan> find_string(std::string_view text, const std::string& needle) {
  std::vector<ByteSpan> out;
  if (needle.empty()) return out;
  for (std::size_t pos = text.find(needle); pos != std::string_view::npos; pos = text.find(needle, pos + needle.size())) {
    out.push_back({pos, pos + needle.size()});
  }
  return out;
}

class SequencePreTokenizer final : public HfPreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<HfPreTokenizer>> steps) : steps_(std::move(steps)) {}
  void split(std::vector<PreToken>& pieces) const override {
    for (const auto& step : steps_) step->split(pieces);
  }

 private:
  std::vector<std::unique_ptr<HfPreTokenizer>> steps_;
};

class SplitPreTokenizer final : public HfPreTokenizer {
 public:
  SplitPreTokenizer(Matcher matcher, Behavior behavior, bool invert)
      : matcher_(std::move(matcher)), behavior_(behavior), invert_(invert) {}
  void split(std::vector<PreToken>& pieces) const override { split_pieces(pieces, matcher_, behavior_, invert_); }

 private:
  Matcher matcher_;
  Behavior behavior_;
  bool invert_;
};

// GPT-2's byte-level step: optionally a leading space and the GPT-2 split,
// then every byte written as its printable stand-in character.
class ByteLevelPreTokenizer final : public HfPreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space), use_regex_(use_regex) {}
  void split(std::vector<PreToken>& pieces) const override {
    if (add_prefix_space_) {
      for (PreToken& piece : pieces) {
        if (piece.text.empty() || piece.text.front() != ' ') piece.text.insert(0, " ");
      }
    }
    if (use_regex_) {
      static const TokenizerRegex gpt2(kGpt2SplitPattern);
      split_pieces(pieces, [](std::string_view text) { return gpt2.find_all(text); }, Behavior::kIsolated, false);
    }
    for (PreToken& piece : pieces) {
      std::string mapped;
      mapped.reserve(piece.text.size() * 2);
      for (const char c : piece.text) unicode::append_utf8(mapped, unicode::byte_to_char(static_cast<uint8_t>(c)));
      piece.text = std::move(mapped);
    }
  }

 private:
  bool add_prefix_space_;
  bool use_regex_;
};

// Sentencepiece's word separator: spaces become "▁", one is prepended, and
// (split=true) each "▁" starts a new piece.
class MetaspacePreTokenizer final : public HfPreTokenizer {
 public:
  enum class Prepend { kAlways, kFirst, kNever };
  MetaspacePreTokenizer(std::string replacement, Prepend prepend, bool split)
      : replacement_(std::move(replacement)), prepend_(prepend), split_(split) {}
  void split(std::vector<PreToken>& pieces) const override {
    for (PreToken& piece : pieces) {
      std::string replaced;
      for (const char c : piece.text) {
        if (c == ' ') {
          replaced += replacement_;
        } else {
          replaced += c;
        }
      }
      const bool starts_with_replacement = replaced.compare(0, replacement_.size(), replacement_) == 0;
      const bool prepend = prepend_ == Prepend::kAlways || (prepend_ == Prepend::kFirst && piece.at_text_start);
      if (prepend && !starts_with_replacement) replaced.insert(0, replacement_);
      piece.text = std::move(replaced);
    }
    if (split_) {
      const std::string needle = replacement_;
      split_pieces(pieces, [needle](std::string_view text) { return find_string(text, needle); },
                   Behavior::kMergedWithNext, false);
    }
  }

 private:
  std::string replacement_;
  Prepend prepend_;
  bool split_;
};

std::unique_ptr<HfPreTokenizer> parse_split(const nlohmann::json& spec, const std::string& where) {
  const nlohmann::json& pattern = json_field(spec, "pattern", where);
  const Behavior behavior = parse_behavior(json_string(spec, "behavior", where), where);
  const bool invert = json_bool(spec, "invert", false, where);
  if (pattern.is_object() && pattern.contains("String")) {
    const std::string needle = json_string(pattern, "String", where + ".pattern");
    return std::make_unique<SplitPreTokenizer>([needle](std::string_view text) { return find_string(text, needle); },
                                               behavior, invert);
  }
  if (pattern.is_object() && pattern.contains("Regex")) {
    const std::string regex = json_string(pattern, "Regex", where + ".pattern");
    std::shared_ptr<const TokenizerRegex> compiled;
    try {
      compiled = std::make_shared<const TokenizerRegex>(regex);
    } catch (const InvalidInput& e) {
      throw InvalidInput(where + ".pattern.Regex: " + e.what());
    }
    return std::make_unique<SplitPreTokenizer>([compiled](std::string_view text) { return compiled->find_all(text); },
                                               behavior, invert);
  }
  throw InvalidInput(where + ".pattern: expected {\"String\": ...} or {\"Regex\": ...}, got " + pattern.dump());
}

std::unique_ptr<HfPreTokenizer> parse_metaspace(const nlohmann::json& spec, const std::string& where) {
  const std::string replacement = json_string(spec, "replacement", where);
  using P = MetaspacePreTokenizer::Prepend;
  P prepend = json_bool(spec, "add_prefix_space", true, where) ? P::kAlways : P::kNever;
  if (spec.contains("prepend_scheme")) {
    const std::string scheme = json_string(spec, "prepend_scheme", where);
    if (scheme == "always") {
      prepend = P::kAlways;
    } else if (scheme == "first") {
      prepend = P::kFirst;
    } else if (scheme == "never") {
      prepend = P::kNever;
    } else {
      throw InvalidInput(where + ".prepend_scheme: unknown value \"" + scheme + "\" (always, first, never)");
    }
  }
  return std::make_unique<MetaspacePreTokenizer>(replacement, prepend, json_bool(spec, "split", true, where));
}

std::vector<ByteSpan> find_digits(std::string_view text, bool individual) {
  std::vector<ByteSpan> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const unicode::CodePoint c = unicode::decode_at(text, pos);
    if (unicode::is_number(c.value)) {
      if (!individual && !out.empty() && out.back().end == pos) {
        out.back().end = pos + c.length;
      } else {
        out.push_back({pos, pos + c.length});
      }
    }
    pos += c.length;
  }
  return out;
}

}  // namespace

std::unique_ptr<HfPreTokenizer> parse_hf_pre_tokenizer(const nlohmann::json& spec, const std::string& where) {
  if (spec.is_null()) return nullptr;
  const std::string type = json_string(spec, "type", where);
  if (type == "Sequence") {
    const nlohmann::json& list = json_field(spec, "pretokenizers", where);
    if (!list.is_array()) throw InvalidInput(where + ".pretokenizers: expected an array");
    std::vector<std::unique_ptr<HfPreTokenizer>> steps;
    for (std::size_t i = 0; i < list.size(); ++i) {
      auto step = parse_hf_pre_tokenizer(list[i], where + ".pretokenizers[" + std::to_string(i) + "]");
      if (step) steps.push_back(std::move(step));
    }
    return std::make_unique<SequencePreTokenizer>(std::move(steps));
  }
  if (type == "Split") return parse_split(spec, where);
  if (type == "ByteLevel") {
    return std::make_unique<ByteLevelPreTokenizer>(json_bool(spec, "add_prefix_space", true, where),
                                                   json_bool(spec, "use_regex", true, where));
  }
  if (type == "Metaspace") return parse_metaspace(spec, where);
  if (type == "Digits") {
    const bool individual = json_bool(spec, "individual_digits", false, where);
    return std::make_unique<SplitPreTokenizer>(
        [individual](std::string_view text) { return find_digits(text, individual); }, Behavior::kIsolated, false);
  }
  throw InvalidInput(where + ".type: unsupported pre-tokenizer \"" + type +
                     "\" (supported: Sequence, Split, ByteLevel, Metaspace, Digits)");
}

}  // namespace lorafarm::engine
