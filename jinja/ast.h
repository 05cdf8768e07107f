// The syntax tree of a template: statements (text, output, if, for, set,
// break, continue) and expressions, one node type with a kind.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "jinja/value.h"

namespace lorafarm::jinja {

struct Node;
using NodePtr = std::unique_ptr<Node>;
using NodeList = std::vector<NodePtr>;

struct Node {
  enum class Kind {
    // statements
    kText,      // text
    kOutput,    // {{ children[0] }}
    kIf,        // children[0] test; body; alternate (else / elif chain)
    kFor,       // children[0] target (identifier or tuple), children[1] iterable; body; alternate (else)
    kSet,       // children[0] target; children[1] value, or body when it is a block set
    kBreak,
    kContinue,
    // expressions
    kLiteral,     // literal
    kIdentifier,  // text
    kArray,       // children
    kTuple,       // children
    kObject,      // children: key, value, key, value...
    kMember,      // children[0] object, children[1] property; flag: computed (obj[...]) or dotted
    kSlice,       // children[0..2] start, stop, step (null when left out)
    kCall,        // children[0] callee, then arguments
    kKeyword,     // text = children[0] (a keyword argument)
    kFilter,      // children[0] operand, then arguments; text = filter name
    kTest,        // children[0] operand, then arguments; text = test name; flag: negated
    kUnary,       // text operator ("not", "-", "+"), children[0]
    kBinary,      // text operator, children[0], children[1]
    kTernary,     // children: condition, if true, if false
    kSelect,      // children: value, condition (`x if c` without else: undefined when false)
  };

  Kind kind;
  int line = 0;
  int depth = 1;  // of the expression tree below (operator chains), bounded by the parser
  std::string text;
  Value literal;
  bool flag = false;
  NodeList children;
  NodeList body;
  NodeList alternate;

  Node(Kind k, int l) : kind(k), line(l) {}
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  // Iterative, so that a deep tree cannot overflow the stack.
  ~Node() {
    NodeList pending;
    auto take = [&pending](NodeList& list) {
      for (NodePtr& n : list) {
        if (n) pending.push_back(std::move(n));
      }
      list.clear();
    };
    take(children);
    take(body);
    take(alternate);
    while (!pending.empty()) {
      NodePtr n = std::move(pending.back());
      pending.pop_back();
      take(n->children);
      take(n->body);
      take(n->alternate);
    }
  }
};

}  // namespace lorafarm::jinja
