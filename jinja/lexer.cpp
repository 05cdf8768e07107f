// The template lexer: whitespace preprocessing, then tokens with the line of
// the original source they came from.
#include "jinja/lexer.h"

#include <array>
#include <cctype>

#include "jinja/template_error.h"
#include "jinja/text.h"

namespace lorafarm::jinja {
namespace {

// Template text with the original line of every byte, so that lines survive
// the preprocessing that deletes characters.
struct Source {
  std::string text;
  std::vector<int> lines;
  void push(char c, int line) {
    text += c;
    lines.push_back(line);
  }
  int line_at(std::size_t at) const { return lines.empty() ? 1 : lines[std::min(at, lines.size() - 1)]; }
};

Source number_lines(const std::string& source) {
  Source s;
  int line = 1;
  for (const char c : source) {
    s.push(c, line);
    if (c == '\n') ++line;
  }
  return s;
}

bool opens_block(const std::string& t, std::size_t at) {
  return at + 1 < t.size() && t[at] == '{' && (t[at + 1] == '#' || t[at + 1] == '%' || t[at + 1] == '-');
}

// lstrip_blocks: spaces and tabs between a line start and `{%` / `{#` go.
Source strip_block_indentation(const Source& in) {
  Source out;
  const std::string& t = in.text;
  for (std::size_t at = 0; at < t.size();) {
    const bool line_start = at == 0 || t[at - 1] == '\n' || t[at - 1] == '\r';
    if (line_start) {
      std::size_t end = at;
      while (end < t.size() && (t[end] == ' ' || t[end] == '\t')) ++end;
      if (end > at && opens_block(t, end)) at = end;
    }
    out.push(t[at], in.lines[at]);
    ++at;
  }
  return out;
}

// trim_blocks: the newline right after `%}`, `#}` or `-}` goes.
Source strip_newline_after_blocks(const Source& in) {
  Source out;
  const std::string& t = in.text;
  for (std::size_t at = 0; at < t.size(); ++at) {
    out.push(t[at], in.lines[at]);
    const bool closes = (t[at] == '#' || t[at] == '%' || t[at] == '-') && at + 2 < t.size() && t[at + 1] == '}';
    if (closes && t[at + 2] == '\n') {
      out.push('}', in.lines[at + 1]);
      at += 2;
    }
  }
  return out;
}

// Length of a `{% generation %}` / `{% endgeneration %}` tag at `at` (0 if
// none), and whether it has `-` on the left / right.
std::size_t generation_tag(const std::string& t, std::size_t at, bool& strip_left, bool& strip_right) {
  if (t.compare(at, 2, "{%") != 0) return 0;
  std::size_t p = at + 2;
  strip_left = p < t.size() && t[p] == '-';
  if (strip_left) ++p;
  while (const std::size_t n = whitespace_at(t, p)) p += n;
  if (t.compare(p, 3, "end") == 0) p += 3;
  if (t.compare(p, 10, "generation") != 0) return 0;
  p += 10;
  while (const std::size_t n = whitespace_at(t, p)) p += n;
  strip_right = p < t.size() && t[p] == '-';
  if (strip_right) ++p;
  if (t.compare(p, 2, "%}") != 0) return 0;
  return p + 2 - at;
}

// transformers' assistant-mask markers render as nothing (their whitespace
// control still applies).
Source remove_generation_tags(const Source& in) {
  Source out;
  const std::string& t = in.text;
  std::size_t kept_until = 0;  // whitespace before this index was already judged
  for (std::size_t at = 0; at < t.size();) {
    bool strip_left = false, strip_right = false;
    const std::size_t length = generation_tag(t, at, strip_left, strip_right);
    if (length == 0) {
      out.push(t[at], in.lines[at]);
      ++at;
      continue;
    }
    while (strip_left && out.text.size() > kept_until && whitespace_at(out.text, out.text.size() - 1) == 1) {
      out.text.pop_back();
      out.lines.pop_back();
    }
    at += length;
    if (strip_right) {
      while (const std::size_t n = whitespace_at(t, at)) at += n;
    } else {
      while (const std::size_t n = whitespace_at(t, at)) {
        for (std::size_t i = 0; i < n; ++i) out.push(t[at + i], in.lines[at + i]);
        at += n;
      }
    }
    kept_until = out.text.size();
  }
  return out;
}

Source preprocess(const std::string& source) {
  Source s = number_lines(source);
  if (!s.text.empty() && s.text.back() == '\n') {
    s.text.pop_back();
    s.lines.pop_back();
  }
  return remove_generation_tags(strip_newline_after_blocks(strip_block_indentation(s)));
}

}  // namespace

namespace {

bool is_word(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

void append_utf8(std::string& out, unsigned code) {
  if (code < 0x80) {
    out += static_cast<char>(code);
  } else if (code < 0x800) {
    out += static_cast<char>(0xC0 | (code >> 6));
    out += static_cast<char>(0x80 | (code & 0x3F));
  } else {
    out += static_cast<char>(0xE0 | (code >> 12));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code & 0x3F));
  }
}

class Lexer {
 public:
  explicit Lexer(Source source) : src_(std::move(source)), t_(src_.text) {}
  std::vector<Token> run();

 private:
  [[noreturn]] void fail(const std::string& message) const { throw TemplateError(message, src_.line_at(pos_)); }
  void push(TokenType type, std::string text, std::size_t start) {
    tokens_.push_back({type, std::move(text), src_.line_at(start)});
  }
  char at(std::size_t i) const { return i < t_.size() ? t_[i] : '\0'; }
  bool take_text();
  bool take_tag_opening();
  bool take_tag_closing();
  bool take_sign(TokenType last);
  bool take_operator();
  void take_comment();
  void take_string();
  void take_number();
  std::string digits();
  void strip_trailing_whitespace();
  void skip_whitespace() {
    while (const std::size_t n = whitespace_at(t_, pos_)) pos_ += n;
  }

  Source src_;
  const std::string& t_;
  std::size_t pos_ = 0;
  int brace_depth_ = 0;
  std::vector<Token> tokens_;
};

std::vector<Token> Lexer::run() {
  while (pos_ < t_.size()) {
    const TokenType last = tokens_.empty() ? TokenType::kText : tokens_.back().type;
    const bool outside = tokens_.empty() || last == TokenType::kCloseStatement ||
                         last == TokenType::kCloseExpression || last == TokenType::kComment;
    if (outside && take_text()) continue;
    if (at(pos_) == '{' && at(pos_ + 1) == '#') {
      take_comment();
      continue;
    }
    if (take_tag_opening()) continue;
    skip_whitespace();
    if (pos_ >= t_.size()) fail("unexpected end of the template inside a tag");
    if (take_tag_closing()) continue;
    if ((at(pos_) == '-' || at(pos_) == '+') && take_sign(tokens_.empty() ? TokenType::kText : last)) continue;
    if (take_operator()) continue;
    const char c = at(pos_);
    if (c == '\'' || c == '"') {
      take_string();
    } else if (is_digit(c)) {
      take_number();
    } else if (is_word(c)) {
      const std::size_t start = pos_;
      while (pos_ < t_.size() && is_word(t_[pos_])) ++pos_;
      push(TokenType::kIdentifier, t_.substr(start, pos_ - start), start);
    } else {
      fail(std::string("unexpected character '") + c + "'");
    }
  }
  return std::move(tokens_);
}

// Plain text up to the next `{%`, `{{` or `{#`.
bool Lexer::take_text() {
  std::size_t end = pos_;
  while (true) {
    end = t_.find('{', end);
    if (end == std::string::npos) {
      end = t_.size();
      break;
    }
    const char next = at(end + 1);
    if (next == '%' || next == '{' || next == '#') break;
    ++end;
  }
  if (end == pos_) return false;
  push(TokenType::kText, t_.substr(pos_, end - pos_), pos_);
  pos_ = end;
  return true;
}

void Lexer::strip_trailing_whitespace() {
  if (tokens_.empty() || tokens_.back().type != TokenType::kText) return;
  tokens_.back().text = trim_end(tokens_.back().text);
  if (tokens_.back().text.empty()) tokens_.pop_back();
}

void Lexer::take_comment() {
  pos_ += 2;
  const bool strip_before = at(pos_) == '-';
  if (strip_before) ++pos_;
  const std::size_t end = t_.find("#}", pos_);
  if (end == std::string::npos) fail("a comment {# is not closed with #}");
  const bool strip_after = end > pos_ && t_[end - 1] == '-';
  if (strip_before) strip_trailing_whitespace();
  push(TokenType::kComment, t_.substr(pos_, end - pos_), pos_);
  pos_ = end + 2;
  if (strip_after) skip_whitespace();
}

// `{%-` and `{{-`: the opening tag that strips the whitespace before it.
bool Lexer::take_tag_opening() {
  if (at(pos_) != '{' || at(pos_ + 2) != '-') return false;
  const char next = at(pos_ + 1);
  if (next != '%' && next != '{') return false;
  strip_trailing_whitespace();
  push(next == '%' ? TokenType::kOpenStatement : TokenType::kOpenExpression, next == '%' ? "{%" : "{{", pos_);
  if (next == '{') brace_depth_ = 0;
  pos_ += 3;
  return true;
}

// `-%}` and `-}}`: the closing tag that strips the whitespace after it.
bool Lexer::take_tag_closing() {
  if (at(pos_) != '-' || at(pos_ + 2) != '}') return false;
  const char next = at(pos_ + 1);
  if (next != '%' && next != '}') return false;
  push(next == '%' ? TokenType::kCloseStatement : TokenType::kCloseExpression, next == '%' ? "%}" : "}}", pos_);
  pos_ += 3;
  skip_whitespace();
  return true;
}

// A sign after an operator or an opening starts an operand: `-1`, `-x`.
bool Lexer::take_sign(TokenType last) {
  const char sign = at(pos_);
  if (tokens_.empty() || last == TokenType::kText) fail(std::string("unexpected character '") + sign + "'");
  if (last == TokenType::kIdentifier || last == TokenType::kNumber || last == TokenType::kString ||
      last == TokenType::kCloseParen || last == TokenType::kCloseBracket) {
    return false;  // a binary operator
  }
  const std::size_t start = pos_++;
  std::string number = digits();
  if (!number.empty() && at(pos_) == '.' && is_digit(at(pos_ + 1))) {
    ++pos_;
    number += '.';
    number += digits();
  }
  if (number.empty()) {
    push(TokenType::kUnary, std::string(1, sign), start);
  } else {
    push(TokenType::kNumber, std::string(1, sign) + number, start);
  }
  return true;
}

std::string Lexer::digits() {
  const std::size_t start = pos_;
  while (pos_ < t_.size() && is_digit(t_[pos_])) ++pos_;
  return t_.substr(start, pos_ - start);
}

bool Lexer::take_operator() {
  struct Rule {
    const char* text;
    TokenType type;
  };
  static const std::array<Rule, 29> kRules = {{
      {"{%", TokenType::kOpenStatement}, {"%}", TokenType::kCloseStatement}, {"{{", TokenType::kOpenExpression},
      {"}}", TokenType::kCloseExpression}, {"(", TokenType::kOpenParen}, {")", TokenType::kCloseParen},
      {"{", TokenType::kOpenBrace}, {"}", TokenType::kCloseBrace}, {"[", TokenType::kOpenBracket},
      {"]", TokenType::kCloseBracket}, {",", TokenType::kComma}, {".", TokenType::kDot}, {":", TokenType::kColon},
      {"|", TokenType::kPipe}, {"<=", TokenType::kComparison}, {">=", TokenType::kComparison},
      {"==", TokenType::kComparison}, {"!=", TokenType::kComparison}, {"<", TokenType::kComparison},
      {">", TokenType::kComparison}, {"+", TokenType::kAdditive}, {"-", TokenType::kAdditive},
      {"~", TokenType::kAdditive}, {"**", TokenType::kPower}, {"*", TokenType::kMultiplicative},
      {"//", TokenType::kMultiplicative}, {"/", TokenType::kMultiplicative}, {"%", TokenType::kMultiplicative},
      {"=", TokenType::kEquals},
  }};
  for (const Rule& rule : kRules) {
    const std::string_view text(rule.text);
    if (text == "}}" && brace_depth_ > 0) continue;  // closes an object literal, not the expression
    if (t_.compare(pos_, text.size(), text) != 0) continue;
    push(rule.type, std::string(text), pos_);
    if (rule.type == TokenType::kOpenExpression) brace_depth_ = 0;
    if (rule.type == TokenType::kOpenBrace) ++brace_depth_;
    if (rule.type == TokenType::kCloseBrace) --brace_depth_;
    pos_ += text.size();
    return true;
  }
  return false;
}

void Lexer::take_string() {
  const char quote = t_[pos_];
  const std::size_t start = pos_++;
  std::string value;
  while (true) {
    if (pos_ >= t_.size()) fail("a string literal is not closed");
    const char c = t_[pos_++];
    if (c == quote) break;
    if (c != '\\') {
      value += c;
      continue;
    }
    if (pos_ >= t_.size()) fail("a string literal is not closed");
    const char escaped = t_[pos_++];
    if (escaped == 'x' || escaped == 'u') {
      const std::size_t length = escaped == 'x' ? 2 : 4;
      const std::string hex = t_.substr(pos_, length);
      if (hex.size() != length || hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
        fail("invalid escape \\" + std::string(1, escaped) + hex + " in a string literal");
      }
      append_utf8(value, static_cast<unsigned>(std::stoul(hex, nullptr, 16)));
      pos_ += length;
      continue;
    }
    static const std::string kFrom = "ntrbfv'\"\\", kTo = "\n\t\r\b\f\v'\"\\";
    const auto i = kFrom.find(escaped);
    if (i == std::string::npos) fail(std::string("unknown escape \\") + escaped + " in a string literal");
    value += kTo[i];
  }
  push(TokenType::kString, std::move(value), start);
}

void Lexer::take_number() {
  const std::size_t start = pos_;
  std::string number = digits();
  const bool after_dot = !tokens_.empty() && tokens_.back().type == TokenType::kDot;
  if (!after_dot && at(pos_) == '.' && is_digit(at(pos_ + 1))) {
    ++pos_;
    number += '.';
    number += digits();
  }
  push(TokenType::kNumber, std::move(number), start);
}

}  // namespace

std::vector<Token> tokenize(const std::string& source) { return Lexer(preprocess(source)).run(); }

}  // namespace lorafarm::jinja
