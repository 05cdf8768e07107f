// Recursive-descent parser for the template subset chat templates use.
#include "jinja/parser.h"

#include <algorithm>
#include <initializer_list>

#include "jinja/template_error.h"

namespace lorafarm::jinja {
namespace {

using Kind = Node::Kind;

NodePtr make(Kind kind, int line) { return std::make_unique<Node>(kind, line); }

// Far deeper than any chat template; keeps the parser's, the evaluator's and
// the tree destructor's recursion within the stack.
constexpr int kMaxDepth = 200;

// Sets the depth of a node built by an operator loop (a + b + c, x|f|g,
// a.b.c) from its operands, which the recursion guard does not see.
NodePtr measured(NodePtr n) {
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

NodePtr Parser::any() {
  const Token& t = peek();
  switch (t.type) {
    case TokenType::kComment:
      ++pos_;
      return nullptr;
    case TokenType::kText: {
      ++pos_;
      NodePtr n = make(Kind::kText, t.line);
      n->text = t.text;
      return n;
    }
    case TokenType::kOpenStatement:
      return statement();
    case TokenType::kOpenExpression: {
      ++pos_;
      NodePtr n = make(Kind::kOutput, t.line);
      n->children.push_back(expression());
      expect(TokenType::kCloseExpression, "}}");
      return n;
    }
    default:
      throw TemplateError("unexpected '" + t.text + "' outside a tag", t.line);
  }
}

NodePtr Parser::statement() {
  const Nesting nesting(nesting_, peek().line);
  expect(TokenType::kOpenStatement, "{%");
  const Token& keyword = peek();
  if (keyword.type != TokenType::kIdentifier) throw TemplateError("expected a statement after {%", keyword.line);
  ++pos_;
  const std::string& word = keyword.text;
  if (word == "if") return if_statement(keyword.line);
  if (word == "for") return for_statement(keyword.line);
  if (word == "set") return set_statement(keyword.line);
  if (word == "break" || word == "continue") {
    expect(TokenType::kCloseStatement, "%}");
    return make(word == "break" ? Kind::kBreak : Kind::kContinue, keyword.line);
  }
  throw TemplateError("the statement {% " + word + " %} is not supported", keyword.line);
}

NodePtr Parser::if_statement(int line) {
  NodePtr n = make(Kind::kIf, line);
  n->children.push_back(expression());
  expect(TokenType::kCloseStatement, "%}");
  n->body = block_until({"elif", "else", "endif"}, "if", line);
  if (is_statement({"elif"})) {
    pos_ += 2;
    n->alternate.push_back(if_statement(tokens_[pos_ - 1].line));  // the chain shares one endif
    return n;
  }
  if (is_statement({"else"})) {
    pos_ += 2;
    expect(TokenType::kCloseStatement, "%}");
    n->alternate = block_until({"endif"}, "if", line);
  }
  end_block("endif");
  return n;
}

NodePtr Parser::for_statement(int line) {
  NodePtr n = make(Kind::kFor, line);
  NodePtr target = sequence(true);
  if (target->kind != Kind::kIdentifier && target->kind != Kind::kTuple) {
    throw TemplateError("a for loop needs a name or names before 'in'", line);
  }
  n->children.push_back(std::move(target));
  expect_word("in");
  n->children.push_back(expression());
  if (is_word("recursive")) throw TemplateError("recursive for loops are not supported", line);
  expect(TokenType::kCloseStatement, "%}");
  n->body = block_until({"endfor", "else"}, "for", line);
  if (is_statement({"else"})) {
    pos_ += 2;
    expect(TokenType::kCloseStatement, "%}");
    n->alternate = block_until({"endfor"}, "for", line);
  }
  end_block("endfor");
  return n;
}

NodePtr Parser::set_statement(int line) {
  NodePtr n = make(Kind::kSet, line);
  n->children.push_back(sequence(false));
  if (is(TokenType::kEquals)) {
    ++pos_;
    n->children.push_back(sequence(false));
    expect(TokenType::kCloseStatement, "%}");
    return n;
  }
  expect(TokenType::kCloseStatement, "%}");
  n->body = block_until({"endset"}, "set", line);
  end_block("endset");
  return n;
}

NodePtr Parser::expression() {
  const Nesting nesting(nesting_, peek().line);
  NodePtr value = logical_or();
  if (!is_word("if")) return value;
  const int line = peek().line;
  ++pos_;
  NodePtr condition = logical_or();
  if (is_word("else")) {
    ++pos_;
    NodePtr n = make(Kind::kTernary, line);
    n->children.push_back(std::move(condition));
    n->children.push_back(std::move(value));
    n->children.push_back(expression());
    return n;
  }
  NodePtr n = make(Kind::kSelect, line);
  n->children.push_back(std::move(value));
  n->children.push_back(std::move(condition));
  return n;
}

// `a, b` is a tuple (set targets, loop variables, parenthesised lists).
NodePtr Parser::sequence(bool primary_only) {
  NodePtr first = primary_only ? primary() : expression();
  if (!is(TokenType::kComma)) return first;
  NodePtr tuple = make(Kind::kTuple, first->line);
  tuple->children.push_back(std::move(first));
  while (is(TokenType::kComma)) {
    ++pos_;
    tuple->children.push_back(primary_only ? primary() : expression());
  }
  return tuple;
}

NodePtr Parser::logical_or() {
  NodePtr left = logical_and();
  while (is_word("or")) {
    const Token& op = tokens_[pos_++];
    left = binary(op, std::move(left), logical_and());
  }
  return left;
}

NodePtr Parser::logical_and() {
  NodePtr left = logical_not();
  while (is_word("and")) {
    const Token& op = tokens_[pos_++];
    left = binary(op, std::move(left), logical_not());
  }
  return left;
}

NodePtr Parser::logical_not() {
  if (!is_word("not")) return comparison();
  const Nesting nesting(nesting_, peek().line);
  NodePtr n = make(Kind::kUnary, peek().line);
  ++pos_;
  n->text = "not";
  n->children.push_back(logical_not());
  return n;
}

NodePtr Parser::comparison() {
  NodePtr left = additive();
  while (true) {
    Token op = pos_ < tokens_.size() ? tokens_[pos_] : Token{};
    if (is_word("not") && is_word("in", 1)) {
      op.text = "not in";
      pos_ += 2;
    } else if (is_word("in") || is(TokenType::kComparison)) {
      ++pos_;
    } else {
      return left;
    }
    left = binary(op, std::move(left), additive());
  }
}

NodePtr Parser::additive() {
  NodePtr left = multiplicative();
  while (is(TokenType::kAdditive)) {
    const Token& op = tokens_[pos_++];
    left = binary(op, std::move(left), multiplicative());
  }
  return left;
}

NodePtr Parser::multiplicative() {
  NodePtr left = power();
  while (is(TokenType::kMultiplicative)) {
    const Token& op = tokens_[pos_++];
    left = binary(op, std::move(left), power());
  }
  return left;
}

NodePtr Parser::power() {
  NodePtr left = test();
  while (is(TokenType::kPower)) {
    const Token& op = tokens_[pos_++];
    left = binary(op, std::move(left), test());
  }
  return left;
}

NodePtr Parser::test() {
  NodePtr operand = filter();
  while (is_word("is")) {
    NodePtr n = make(Kind::kTest, peek().line);
    ++pos_;
    n->flag = is_word("not");
    if (n->flag) ++pos_;
    const Token& name = peek();
    if (name.type != TokenType::kIdentifier) throw TemplateError("expected a test name after 'is'", name.line);
    ++pos_;
    n->text = name.text;
    if (is(TokenType::kOpenParen) || is(TokenType::kNumber) || is(TokenType::kString)) {
      throw TemplateError("the test '" + name.text + "' with an argument is not supported", name.line);
    }
    n->children.push_back(std::move(operand));
    operand = measured(std::move(n));
  }
  return operand;
}

NodePtr Parser::filter() {
  NodePtr operand = unary_sign();
  while (is(TokenType::kPipe)) {
    ++pos_;
    const Token& name = peek();
    if (name.type != TokenType::kIdentifier) throw TemplateError("expected a filter name after '|'", name.line);
    ++pos_;
    NodePtr n = make(Kind::kFilter, name.line);
    n->text = name.text;
    n->children.push_back(std::move(operand));
    if (is(TokenType::kOpenParen)) arguments(*n);
    operand = measured(std::move(n));
  }
  return operand;
}

NodePtr Parser::unary_sign() {
  const bool sign = is(TokenType::kUnary) || is(TokenType::kAdditive);
  if (!sign || (peek().text != "-" && peek().text != "+")) return call_member();
  const Nesting nesting(nesting_, peek().line);
  NodePtr n = make(Kind::kUnary, peek().line);
  n->text = tokens_[pos_++].text;
  n->children.push_back(unary_sign());
  return n;
}

NodePtr Parser::call_member() {
  NodePtr object = member(primary());
  return is(TokenType::kOpenParen) ? call(std::move(object)) : std::move(object);
}

NodePtr Parser::call(NodePtr callee) {
  const Nesting nesting(nesting_, callee->line);
  NodePtr n = make(Kind::kCall, callee->line);
  n->children.push_back(std::move(callee));
  arguments(*n);
  NodePtr result = member(measured(std::move(n)));
  return is(TokenType::kOpenParen) ? call(std::move(result)) : std::move(result);
}

// `(a, b, key=c)` appended to a call or filter node.
void Parser::arguments(Node& call) {
  expect(TokenType::kOpenParen, "(");
  while (!is(TokenType::kCloseParen)) {
    if (is(TokenType::kMultiplicative) || is(TokenType::kPower)) {
      throw TemplateError("argument unpacking (*args, **kwargs) is not supported", peek().line);
    }
    if (is(TokenType::kIdentifier) && pos_ + 1 < tokens_.size() && tokens_[pos_ + 1].type == TokenType::kEquals) {
      NodePtr keyword = make(Kind::kKeyword, peek().line);
      keyword->text = tokens_[pos_].text;
      pos_ += 2;
      keyword->children.push_back(expression());
      call.children.push_back(std::move(keyword));
    } else {
      call.children.push_back(expression());
    }
    if (!is(TokenType::kComma)) break;
    ++pos_;
  }
  expect(TokenType::kCloseParen, ")");
}

NodePtr Parser::member(NodePtr object) {
  while (is(TokenType::kDot) || is(TokenType::kOpenBracket)) {
    const Token& op = tokens_[pos_++];
    NodePtr n = make(Kind::kMember, op.line);
    n->flag = op.type == TokenType::kOpenBracket;
    n->children.push_back(std::move(object));
    if (n->flag) {
      n->children.push_back(subscript(op.line));
      expect(TokenType::kCloseBracket, "]");
    } else {
      NodePtr property = primary();
      const bool integer = property->kind == Kind::kLiteral && property->literal.is(Value::Kind::kInt);
      if (property->kind != Kind::kIdentifier && !integer) {
        throw TemplateError("expected a name or an integer after '.'", op.line);
      }
      n->children.push_back(std::move(property));
    }
    object = measured(std::move(n));
  }
  return object;
}

// The inside of `[...]`: an index, or a slice `start:stop:step` with parts left out.
NodePtr Parser::subscript(int line) {
  NodeList parts;
  bool slice = false;
  while (!is(TokenType::kCloseBracket)) {
    if (is(TokenType::kColon)) {
      parts.push_back(nullptr);
      ++pos_;
      slice = true;
      continue;
    }
    parts.push_back(expression());
    if (is(TokenType::kColon)) {
      ++pos_;
      slice = true;
    }
  }
  if (parts.empty()) throw TemplateError("empty []", line);
  if (!slice) return std::move(parts[0]);
  if (parts.size() > 3) throw TemplateError("a slice has at most three parts", line);
  NodePtr n = make(Kind::kSlice, line);
  for (auto& part : parts) n->children.push_back(std::move(part));
  while (n->children.size() < 3) n->children.push_back(nullptr);
  return n;
}

NodePtr Parser::primary() {
  const Token& t = peek();
  ++pos_;
  switch (t.type) {
    case TokenType::kNumber: {
      NodePtr n = make(Kind::kLiteral, t.line);
      n->literal = t.text.find('.') != std::string::npos ? Value::floating(std::stod(t.text))
                                                         : Value::integer(std::stoll(t.text));
      return n;
    }
    case TokenType::kString: {
      std::string value = t.text;
      while (is(TokenType::kString)) value += tokens_[pos_++].text;  // 'a' 'b' is 'ab'
      NodePtr n = make(Kind::kLiteral, t.line);
      n->literal = Value::string(std::move(value));
      return n;
    }
    case TokenType::kIdentifier: {
      NodePtr n = make(Kind::kIdentifier, t.line);
      n->text = t.text;
      return n;
    }
    case TokenType::kOpenParen: {
      NodePtr inner = sequence(false);
      expect(TokenType::kCloseParen, ")");
      return inner;
    }
    case TokenType::kOpenBracket: {
      NodePtr n = make(Kind::kArray, t.line);
      while (!is(TokenType::kCloseBracket)) {
        n->children.push_back(expression());
        if (is(TokenType::kComma)) ++pos_;
      }
      ++pos_;
      return n;
    }
    case TokenType::kOpenBrace: {
      NodePtr n = make(Kind::kObject, t.line);
      while (!is(TokenType::kCloseBrace)) {
        n->children.push_back(expression());
        expect(TokenType::kColon, "':' in an object literal");
        n->children.push_back(expression());
        if (is(TokenType::kComma)) ++pos_;
      }
      ++pos_;
      return n;
    }
    default:
      throw TemplateError("unexpected '" + t.text + "' in an expression", t.line);
  }
}

}  // namespace

NodeList parse(const std::vector<Token>& tokens) { return Parser(tokens).program(); }

}  // namespace lorafarm::jinja
