// Expressions, lowest precedence first: `a if c else b`, or, and, not,
// comparisons and `in`, + - ~, * / // %, **, `is`, `|`, signs, calls and
// member access, primaries.
#include <stdexcept>
#include <string>

#include "jinja/parser_state.h"

namespace lorafarm::jinja {
namespace {

// An integer (int64) or decimal literal; one out of range is an error, not an exception escaping.
Value number_literal(const Token& t) {
  try {
    if (t.text.find('.') != std::string::npos) return Value::floating(std::stod(t.text));
    return Value::integer(std::stoll(t.text));
  } catch (const std::out_of_range&) {
    throw TemplateError("the number " + t.text + " is out of range", t.line);
  }
}

}  // namespace

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
      n->literal = number_literal(t);
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

}  // namespace lorafarm::jinja
