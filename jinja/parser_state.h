// The parser's state and rules, shared by parser.cpp (statements) and
// expression_parser.cpp (expressions). Internal to jinja/.
#pragma once

#include <algorithm>
#include <initializer_list>
#include <memory>
#include <vector>

#include "jinja/ast.h"
#include "jinja/lexer.h"
#include "jinja/template_error.h"

namespace lorafarm::jinja {

using Kind = Node::Kind;

inline NodePtr make(Kind kind, int line) { return std::make_unique<Node>(kind, line); }

// Far deeper than any chat template; keeps the parser's, the evaluator's and
// the tree destructor's recursion within the stack.
inline constexpr int kMaxDepth = 200;

// Sets the depth of a node built by an operator loop (a + b + c, x|f|g,
// a.b.c) from its operands, which the recursion guard does not see.
inline NodePtr measured(NodePtr n) {
  for (const NodePtr& child : n->children) {
    if (child) n->depth = std::max(n->depth, child->depth + 1);
  }
  if (n->depth > kMaxDepth) throw TemplateError("the template nests expressions too deeply", n->line);
  return n;
}

class Parser {
 public:
  explicit Parser(const std::vector<Token>& tokens) : tokens_(tokens) {}

  NodeList program() {
    NodeList statements;
    while (pos_ < tokens_.size()) {
      if (NodePtr s = any()) statements.push_back(std::move(s));
    }
    return statements;
  }

 private:
  const Token& peek(std::size_t ahead = 0) const {
    if (pos_ + ahead >= tokens_.size()) {
      throw TemplateError("unexpected end of the template", tokens_.empty() ? 1 : tokens_.back().line);
    }
    return tokens_[pos_ + ahead];
  }
  bool is(TokenType type) const { return pos_ < tokens_.size() && tokens_[pos_].type == type; }
  bool is_word(const char* word, std::size_t ahead = 0) const {
    return pos_ + ahead < tokens_.size() && tokens_[pos_ + ahead].type == TokenType::kIdentifier &&
           tokens_[pos_ + ahead].text == word;
  }
  bool is_statement(std::initializer_list<const char*> names) const {
    if (!is(TokenType::kOpenStatement)) return false;
    for (const char* name : names) {
      if (is_word(name, 1)) return true;
    }
    return false;
  }
  const Token& expect(TokenType type, const char* what) {
    const Token& t = peek();
    if (t.type != type) throw TemplateError(std::string("expected ") + what + ", found '" + t.text + "'", t.line);
    ++pos_;
    return t;
  }
  void expect_word(const char* word) {
    const Token& t = peek();
    if (t.type != TokenType::kIdentifier || t.text != word) {
      throw TemplateError(std::string("expected '") + word + "', found '" + t.text + "'", t.line);
    }
    ++pos_;
  }
  // Statements up to (not including) the `{% name %}` that ends a block.
  NodeList block_until(std::initializer_list<const char*> ends, const char* opened, int line) {
    NodeList body;
    while (!is_statement(ends)) {
      if (pos_ >= tokens_.size()) {
        throw TemplateError(std::string("{% ") + opened + " %} is not closed", line);
      }
      if (NodePtr s = any()) body.push_back(std::move(s));
    }
    return body;
  }
  void end_block(const char* end_word) {
    expect(TokenType::kOpenStatement, "{%");
    expect_word(end_word);
    expect(TokenType::kCloseStatement, "%}");
  }

  NodePtr any();
  NodePtr statement();
  NodePtr if_statement(int line);
  NodePtr for_statement(int line);
  NodePtr set_statement(int line);

  NodePtr expression();
  NodePtr sequence(bool primary_only);
  NodePtr logical_or();
  NodePtr logical_and();
  NodePtr logical_not();
  NodePtr comparison();
  NodePtr additive();
  NodePtr multiplicative();
  NodePtr power();
  NodePtr test();
  NodePtr filter();
  NodePtr unary_sign();
  NodePtr call_member();
  NodePtr call(NodePtr callee);
  NodePtr member(NodePtr object);
  NodePtr subscript(int line);
  void arguments(Node& call);
  NodePtr primary();
  NodePtr binary(const Token& op, NodePtr left, NodePtr right) {
    NodePtr n = make(Kind::kBinary, op.line);
    n->text = op.text;
    n->children.push_back(std::move(left));
    n->children.push_back(std::move(right));
    return measured(std::move(n));
  }

  // Counts the parser's recursion (nested blocks, parentheses, signs, `not`).
  struct Nesting {
    Nesting(int& depth, int line) : depth_(depth) {
      if (++depth_ > kMaxDepth) throw TemplateError("the template nests too deeply", line);
    }
    ~Nesting() { --depth_; }
    int& depth_;
  };

  const std::vector<Token>& tokens_;
  std::size_t pos_ = 0;
  int nesting_ = 0;
};

}  // namespace lorafarm::jinja
