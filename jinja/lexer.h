// Template source -> tokens, with the whitespace rules chat templates are
// rendered with (transformers and @huggingface/jinja): trim_blocks and
// lstrip_blocks on, one trailing newline dropped, `{%-`/`-%}` stripping, and
// transformers' `{% generation %}` markers removed.
#pragma once

#include <string>
#include <vector>

namespace lorafarm::jinja {

enum class TokenType {
  kText,
  kComment,
  kOpenStatement,    // {%
  kCloseStatement,   // %}
  kOpenExpression,   // {{
  kCloseExpression,  // }}
  kNumber,
  kString,
  kIdentifier,
  kEquals,
  kOpenParen,
  kCloseParen,
  kOpenBracket,
  kCloseBracket,
  kOpenBrace,
  kCloseBrace,
  kComma,
  kDot,
  kColon,
  kPipe,
  kAdditive,        // + - ~
  kMultiplicative,  // * / // %
  kPower,           // **
  kComparison,      // < > <= >= == !=
  kUnary,           // a sign that starts an operand
};

struct Token {
  TokenType type;
  std::string text;  // string literals: their value, escapes resolved
  int line = 0;      // 1-based line of the original template source
};

// Throws TemplateError naming the line for an unterminated string, comment or
// tag, a bad escape, or a character that starts no token.
std::vector<Token> tokenize(const std::string& source);

}  // namespace lorafarm::jinja
