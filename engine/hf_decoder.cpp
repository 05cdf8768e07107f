// Decoders, each a step of the tokenizers library's decode chain over the
// list of token strings.
#include "engine/hf_decoder.h"

#include <optional>

#include "engine/error.h"
#include "engine/json_file.h"
#include "engine/unicode.h"

namespace lorafarm::engine {
namespace {

class SequenceDecoder final : public HfDecoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<HfDecoder>> steps) : steps_(std::move(steps)) {}
  void decode(std::vector<std::string>& tokens) const override {
    for (const auto& step : steps_) step->decode(tokens);
  }

 private:
  std::vector<std::unique_ptr<HfDecoder>> steps_;
};

std::string replace_all(const std::string& text, const std::string& from, const std::string& to) {
  if (from.empty()) return text;
  std::string out;
  std::size_t pos = 0;
  for (std::size_t hit; (hit = text.find(from, pos)) != std::string::npos; pos = hit + from.size()) {
    out.append(text, pos, hit - pos);
    out += to;
  }
  out.append(text, pos);
  return out;
}

class ReplaceDecoder final : public HfDecoder {
 public:
  ReplaceDecoder(std::string from, std::string to) : from_(std::move(from)), to_(std::move(to)) {}
  void decode(std::vector<std::string>& tokens) const override {
    for (std::string& token : tokens) token = replace_all(token, from_, to_);
  }

 private:
  std::string from_;
  std::string to_;
};

std::optional<uint8_t> byte_token_value(const std::string& token) {
  if (token.size() != 6 || token.compare(0, 3, "<0x") != 0 || token[5] != '>') return std::nullopt;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  const int hi = hex(token[3]), lo = hex(token[4]);
  if (hi < 0 || lo < 0) return std::nullopt;
  return static_cast<uint8_t>(hi * 16 + lo);
}

// Runs of <0xNN> tokens become the text their bytes spell; bytes that are not
// valid UTF-8 become one U+FFFD each.
class ByteFallbackDecoder final : public HfDecoder {
 public:
  void decode(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    std::string bytes;
    std::size_t byte_count = 0;
    auto flush = [&] {
      if (byte_count == 0) return;
      if (unicode::is_valid_utf8(bytes)) {
        out.push_back(bytes);
      } else {
        std::string replacement;
        for (std::size_t i = 0; i < byte_count; ++i) unicode::append_utf8(replacement, unicode::kReplacementChar);
        out.push_back(replacement);
      }
      bytes.clear();
      byte_count = 0;
    };
    for (std::string& token : tokens) {
      if (const auto byte = byte_token_value(token)) {
        bytes += static_cast<char>(*byte);
        ++byte_count;
        continue;
      }
      flush();
      out.push_back(std::move(token));
    }
    flush();
    tokens = std::move(out);
  }
};

class FuseDecoder final : public HfDecoder {
 public:
  void decode(std::vector<std::string>& tokens) const override {
    std::string joined;
    for (const std::string& token : tokens) joined += token;
    tokens.assign(1, std::move(joined));
  }
};

// Removes up to `start` leading and `stop` trailing copies of one character
// from every token.
class StripDecoder final : public HfDecoder {
 public:
  StripDecoder(std::string content, std::size_t start, std::size_t stop)
      : content_(std::move(content)), start_(start), stop_(stop) {}
  void decode(std::vector<std::string>& tokens) const override {
    if (content_.empty()) return;
    for (std::string& token : tokens) {
      std::size_t begin = 0, end = token.size();
      for (std::size_t i = 0; i < start_ && token.compare(begin, content_.size(), content_) == 0; ++i) {
        begin += content_.size();
      }
      for (std::size_t i = 0; i < stop_ && end >= begin + content_.size() &&
                              token.compare(end - content_.size(), content_.size(), content_) == 0;
           ++i) {
        end -= content_.size();
      }
      token = token.substr(begin, end - begin);
    }
  }

 private:
  std::string content_;
  std::size_t start_;
  std::size_t stop_;
};

// Every character back to its byte (a token with a character outside the
// byte map keeps its own UTF-8), then the bytes repaired into valid UTF-8.
class ByteLevelDecoder final : public HfDecoder {
 public:
  void decode(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const std::string& token : tokens) {
      std::string mapped;
      bool all_mapped = true;
      for (std::size_t pos = 0; pos < token.size();) {
        const unicode::CodePoint c = unicode::decode_at(token, pos);
        const auto byte = unicode::char_to_byte(c.value);
        if (!byte) {
          all_mapped = false;
          break;
        }
        mapped += static_cast<char>(*byte);
        pos += c.length;
      }
      bytes += all_mapped ? mapped : token;
    }
    tokens.assign(1, unicode::repair_utf8(bytes));
  }
};

// "▁" back to spaces; in the first token they are dropped when the
// pre-tokenizer prepends one (as the tokenizers library does).
class MetaspaceDecoder final : public HfDecoder {
 public:
  MetaspaceDecoder(std::string replacement, bool drop_in_first)
      : replacement_(std::move(replacement)), drop_in_first_(drop_in_first) {}
  void decode(std::vector<std::string>& tokens) const override {
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      tokens[i] = replace_all(tokens[i], replacement_, i == 0 && drop_in_first_ ? "" : " ");
    }
  }

 private:
  std::string replacement_;
  bool drop_in_first_;
};

std::unique_ptr<HfDecoder> parse_metaspace(const nlohmann::json& spec, const std::string& where) {
  bool prepend = json_bool(spec, "add_prefix_space", true, where);
  if (spec.contains("prepend_scheme")) prepend = json_string(spec, "prepend_scheme", where) != "never";
  return std::make_unique<MetaspaceDecoder>(json_string(spec, "replacement", where), prepend);
}

std::size_t json_count(const nlohmann::json& spec, std::string_view key, const std::string& where) {
  const long long value = json_int(spec, key, 0, where);
  if (value < 0) throw InvalidInput(where + "." + std::string(key) + ": must not be negative");
  return static_cast<std::size_t>(value);
}

}  // namespace

std::unique_ptr<HfDecoder> parse_hf_decoder(const nlohmann::json& spec, const std::string& where) {
  if (spec.is_null()) return nullptr;
  const std::string type = json_string(spec, "type", where);
  if (type == "Sequence") {
    const nlohmann::json& list = json_field(spec, "decoders", where);
    if (!list.is_array()) throw InvalidInput(where + ".decoders: expected an array");
    std::vector<std::unique_ptr<HfDecoder>> steps;
    for (std::size_t i = 0; i < list.size(); ++i) {
      auto step = parse_hf_decoder(list[i], where + ".decoders[" + std::to_string(i) + "]");
      if (step) steps.push_back(std::move(step));
    }
    return std::make_unique<SequenceDecoder>(std::move(steps));
  }
  if (type == "Replace") {
    const nlohmann::json& pattern = json_field(spec, "pattern", where);
    if (!pattern.is_object() || !pattern.contains("String")) {
      throw InvalidInput(where + ".pattern: only {\"String\": ...} patterns are supported in decoders, got " +
                         pattern.dump());
    }
    return std::make_unique<ReplaceDecoder>(json_string(pattern, "String", where + ".pattern"),
                                            json_string(spec, "content", where));
  }
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Strip") {
    return std::make_unique<StripDecoder>(json_string(spec, "content", where), json_count(spec, "start", where),
                                          json_count(spec, "stop", where));
  }
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "Metaspace") return parse_metaspace(spec, where);
  throw InvalidInput(where + ".type: unsupported decoder \"" + type +
                     "\" (supported: Sequence, Replace, ByteFallback, Fuse, Strip, ByteLevel, Metaspace)");
}

}  // namespace lorafarm::engine
