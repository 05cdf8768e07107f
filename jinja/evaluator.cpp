// Statement execution and expression evaluation.
#include "jinja/evaluator.h"

#include <cmath>

#include "jinja/builtins.h"
#include "jinja/operators.h"
#include "jinja/template_error.h"
#include "jinja/text.h"

namespace lorafarm::jinja {
namespace {

using Kind = Value::Kind;
using NodeKind = Node::Kind;

enum class Flow { kNormal, kBreak, kContinue };

class Evaluator {
 public:
  Flow render_block(const NodeList& statements, Scope& scope, std::string& out);

 private:
  Flow render_statement(const Node& node, Scope& scope, std::string& out);
  Flow render_for(const Node& node, Scope& scope, std::string& out);
  void execute_set(const Node& node, Scope& scope);
  void bind(const Node& target, const Value& value, Scope& scope);

  Value eval(const Node& node, Scope& scope);
  Value eval_node(const Node& node, Scope& scope);
  Value eval_binary(const Node& node, Scope& scope);
  Value eval_member(const Node& node, Scope& scope);
  Value eval_slice(const Value& object, const Node& slice, Scope& scope);
  Value eval_call(const Node& node, Scope& scope);
  CallArgs eval_arguments(const Node& node, std::size_t first, Scope& scope);
  Value eval_unary(const Node& node, Scope& scope);
  Value eval_collection(const Node& node, Scope& scope);

  int depth_ = 0;  // of nested evaluation, bounded so that no input overflows the stack
};

constexpr int kMaxEvaluationDepth = 400;

Flow Evaluator::render_block(const NodeList& statements, Scope& scope, std::string& out) {
  for (const NodePtr& statement : statements) {
    const Flow flow = render_statement(*statement, scope, out);
    if (flow != Flow::kNormal) return flow;
  }
  return Flow::kNormal;
}

Flow Evaluator::render_statement(const Node& node, Scope& scope, std::string& out) {
  switch (node.kind) {
    case NodeKind::kText:
      out += node.text;
      return Flow::kNormal;
    case NodeKind::kOutput: {
      const Value value = eval(*node.children[0], scope);
      if (value.is(Kind::kFunction)) throw TemplateError("a function cannot be written into the output", node.line);
      out += value.to_output();
      return Flow::kNormal;
    }
    case NodeKind::kIf:
      return render_block(eval(*node.children[0], scope).truthy() ? node.body : node.alternate, scope, out);
    case NodeKind::kFor:
      return render_for(node, scope, out);
    case NodeKind::kSet:
      execute_set(node, scope);
      return Flow::kNormal;
    case NodeKind::kBreak:
      return Flow::kBreak;
    case NodeKind::kContinue:
      return Flow::kContinue;
    default:
      throw TemplateError("an expression where a statement was expected", node.line);
  }
}

Value loop_object(std::size_t i, const Array& items) {
  const auto n = static_cast<int64_t>(items.size());
  const auto index = static_cast<int64_t>(i);
  Object loop;
  loop.set("index", Value::integer(index + 1));
  loop.set("index0", Value::integer(index));
  loop.set("revindex", Value::integer(n - index));
  loop.set("revindex0", Value::integer(n - index - 1));
  loop.set("first", Value::boolean(index == 0));
  loop.set("last", Value::boolean(index == n - 1));
  loop.set("length", Value::integer(n));
  loop.set("previtem", i > 0 ? items[i - 1] : Value());
  loop.set("nextitem", index + 1 < n ? items[i + 1] : Value());
  return Value::object(std::move(loop));
}

// `for x in xs [if cond]`: one scope for the loop; `loop.*` counts the
// selected items; the else block runs when nothing was rendered.
Flow Evaluator::render_for(const Node& node, Scope& scope, std::string& out) {
  Scope loop_scope(&scope);
  const Node& target = *node.children[0];
  const Node& source = *node.children[1];
  const bool selected = source.kind == NodeKind::kSelect;
  Value iterable = eval(selected ? *source.children[0] : source, loop_scope);
  if (iterable.is(Kind::kObject)) iterable = member_of(iterable, "keys").as_function()({});
  if (!iterable.is(Kind::kArray)) {
    throw TemplateError(std::string("a for loop cannot iterate over a ") + iterable.kind_name(), node.line);
  }
  Array items;
  for (const Value& item : iterable.as_array()) {
    if (selected) {
      Scope test_scope(&loop_scope);
      bind(target, item, test_scope);
      if (!eval(*source.children[1], test_scope).truthy()) continue;
    }
    items.push_back(item);
  }
  bool rendered = false;
  for (std::size_t i = 0; i < items.size(); ++i) {
    loop_scope.set("loop", loop_object(i, items));
    bind(target, items[i], loop_scope);
    const Flow flow = render_block(node.body, loop_scope, out);
    if (flow == Flow::kBreak) break;
    if (flow == Flow::kContinue) continue;
    rendered = true;
  }
  if (!rendered) return render_block(node.alternate, loop_scope, out);
  return Flow::kNormal;
}

void Evaluator::bind(const Node& target, const Value& value, Scope& scope) {
  if (target.kind == NodeKind::kIdentifier) {
    scope.set(target.text, value);
    return;
  }
  if (target.kind != NodeKind::kTuple) throw TemplateError("cannot assign to this expression", target.line);
  if (!value.is(Kind::kArray)) throw TemplateError(std::string("cannot unpack a ") + value.kind_name(), target.line);
  const Array& items = value.as_array();
  if (items.size() != target.children.size()) {
    throw TemplateError("unpacking " + std::to_string(items.size()) + " items into " +
                            std::to_string(target.children.size()) + " names",
                        target.line);
  }
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (target.children[i]->kind != NodeKind::kIdentifier) throw TemplateError("can only unpack into names", target.line);
    scope.set(target.children[i]->text, items[i]);
  }
}

void Evaluator::execute_set(const Node& node, Scope& scope) {
  Value value;
  if (node.children.size() > 1) {
    value = eval(*node.children[1], scope);
  } else {
    std::string text;
    render_block(node.body, scope, text);
    value = Value::string(std::move(text));
  }
  const Node& target = *node.children[0];
  if (target.kind != NodeKind::kMember) {
    bind(target, value, scope);
    return;
  }
  const Value object = eval(*target.children[0], scope);
  if (!object.is(Kind::kNamespace)) throw TemplateError("only a namespace's attributes can be set", node.line);
  if (target.flag) throw TemplateError("set ns[...] is not supported; use set ns.name", node.line);
  object.namespace_entries().set(target.children[1]->text, std::move(value));
}

// Every error raised below an expression gets the expression's line.
Value Evaluator::eval(const Node& node, Scope& scope) {
  struct Depth {
    explicit Depth(int& d) : d_(d) { ++d_; }
    ~Depth() { --d_; }
    int& d_;
  } depth(depth_);
  try {
    if (depth_ > kMaxEvaluationDepth) throw TemplateError("the template nests expressions too deeply");
    return eval_node(node, scope);
  } catch (const RaisedByTemplate& e) {
    if (e.line() > 0) throw;
    throw RaisedByTemplate(e.message(), node.line);
  } catch (const TemplateError& e) {
    if (e.line() > 0) throw;
    throw TemplateError(e.message(), node.line);
  }
}

Value Evaluator::eval_node(const Node& node, Scope& scope) {
  switch (node.kind) {
    case NodeKind::kLiteral:
      return node.literal;
    case NodeKind::kIdentifier:
      return scope.lookup(node.text);
    case NodeKind::kArray:
    case NodeKind::kTuple:
    case NodeKind::kObject:
      return eval_collection(node, scope);
    case NodeKind::kMember:
      return eval_member(node, scope);
    case NodeKind::kCall:
      return eval_call(node, scope);
    case NodeKind::kFilter:
      return apply_filter(node.text, eval(*node.children[0], scope), eval_arguments(node, 1, scope));
    case NodeKind::kTest: {
      const bool result = apply_test(node.text, eval(*node.children[0], scope));
      return Value::boolean(node.flag ? !result : result);
    }
    case NodeKind::kUnary:
      return eval_unary(node, scope);
    case NodeKind::kBinary:
      return eval_binary(node, scope);
    case NodeKind::kTernary:
      return eval(*node.children[eval(*node.children[0], scope).truthy() ? 1 : 2], scope);
    case NodeKind::kSelect:
      return eval(*node.children[1], scope).truthy() ? eval(*node.children[0], scope) : Value();
    default:
      throw TemplateError("a statement where an expression was expected", node.line);
  }
}

Value Evaluator::eval_collection(const Node& node, Scope& scope) {
  if (node.kind != NodeKind::kObject) {
    Array items;
    for (const NodePtr& child : node.children) items.push_back(eval(*child, scope));
    return Value::array(std::move(items));
  }
  Object object;
  for (std::size_t i = 0; i + 1 < node.children.size(); i += 2) {
    const Value key = eval(*node.children[i], scope);
    if (!key.is(Kind::kString)) throw TemplateError("object literal keys must be strings", node.line);
    object.set(key.as_string(), eval(*node.children[i + 1], scope));
  }
  return Value::object(std::move(object));
}

Value Evaluator::eval_binary(const Node& node, Scope& scope) {
  const std::string& op = node.text;
  const Value left = eval(*node.children[0], scope);
  if (op == "and") return left.truthy() ? eval(*node.children[1], scope) : left;
  if (op == "or") return left.truthy() ? left : eval(*node.children[1], scope);
  return binary_operator(op, left, eval(*node.children[1], scope));
}

Value Evaluator::eval_unary(const Node& node, Scope& scope) {
  const Value operand = eval(*node.children[0], scope);
  if (node.text == "not") return Value::boolean(!operand.truthy());
  const double sign = node.text == "-" ? -1 : 1;
  if (operand.is(Kind::kFloat)) return Value::floating(sign * operand.as_number());
  if (operand.is(Kind::kInt) || operand.is(Kind::kBool)) {
    return Value::integer(static_cast<int64_t>(sign) * static_cast<int64_t>(operand.as_number()));
  }
  throw TemplateError("unary " + node.text + " cannot be applied to a " + operand.kind_name(), node.line);
}

Value Evaluator::eval_member(const Node& node, Scope& scope) {
  const Value object = eval(*node.children[0], scope);
  const Node& property_node = *node.children[1];
  if (node.flag && property_node.kind == NodeKind::kSlice) return eval_slice(object, property_node, scope);
  Value property;
  if (node.flag || property_node.kind == NodeKind::kLiteral) {
    property = node.flag ? eval(property_node, scope) : property_node.literal;
  } else {
    property = Value::string(property_node.text);
  }
  return index_value(object, property);
}

Value Evaluator::eval_slice(const Value& object, const Node& slice, Scope& scope) {
  Value bounds[3];
  for (int i = 0; i < 3; ++i) {
    if (slice.children[static_cast<std::size_t>(i)]) bounds[i] = eval(*slice.children[static_cast<std::size_t>(i)], scope);
  }
  return slice_value(object, bounds[0], bounds[1], bounds[2]);
}

CallArgs Evaluator::eval_arguments(const Node& node, std::size_t first, Scope& scope) {
  CallArgs args;
  for (std::size_t i = first; i < node.children.size(); ++i) {
    const Node& argument = *node.children[i];
    if (argument.kind == NodeKind::kKeyword) {
      if (args.keyword_arg(argument.text) != nullptr) {
        throw TemplateError("the keyword argument '" + argument.text + "' is given twice", argument.line);
      }
      args.keyword.emplace_back(argument.text, eval(*argument.children[0], scope));
    } else {
      args.positional.push_back(eval(argument, scope));
    }
  }
  return args;
}

Value Evaluator::eval_call(const Node& node, Scope& scope) {
  const CallArgs args = eval_arguments(node, 1, scope);
  const Value callee = eval(*node.children[0], scope);
  if (!callee.is(Kind::kFunction)) {
    const Node& name = *node.children[0];
    const std::string what = name.kind == NodeKind::kIdentifier                                   ? name.text + "()"
                             : name.kind == NodeKind::kMember && !name.flag                       ? "." + name.children[1]->text + "()"
                                                                                                  : "this call";
    throw TemplateError(what + " is not a supported function (it is " + callee.kind_name() + ")", node.line);
  }
  return callee.as_function()(args);
}

}  // namespace

std::string render_program(const NodeList& program, Scope& globals) {
  std::string out;
  Evaluator().render_block(program, globals, out);
  return out;
}

}  // namespace lorafarm::jinja
