// Recursive-descent parser for the template subset chat templates use: the
// statements (expression_parser.cpp parses expressions).
#include "jinja/parser.h"

#include "jinja/parser_state.h"

namespace lorafarm::jinja {

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

NodeList parse(const std::vector<Token>& tokens) { return Parser(tokens).program(); }

}  // namespace lorafarm::jinja
