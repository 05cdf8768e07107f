// Attribute access and the methods of strings and mappings
// (`content.startswith('<tool_response>')`, `message.get('x')`).
#include <algorithm>

#include "jinja/builtins.h"
#include "jinja/template_error.h"
#include "jinja/text.h"

namespace lorafarm::jinja {
namespace {

using Kind = Value::Kind;

const std::string& string_argument(const CallArgs& args, std::size_t i, const char* method) {
  if (i >= args.positional.size() || !args.positional[i].is(Kind::kString)) {
    throw TemplateError(std::string(method) + "() needs a string argument");
  }
  return args.positional[i].as_string();
}

// startswith/endswith take a string or a tuple of strings.
bool affix_matches(const std::string& text, const CallArgs& args, bool at_start, const char* method) {
  if (args.positional.empty()) throw TemplateError(std::string(method) + "() needs an argument");
  const Value& pattern = args.positional[0];
  auto matches = [&](const std::string& affix) {
    if (affix.size() > text.size()) return false;
    return at_start ? text.compare(0, affix.size(), affix) == 0
                    : text.compare(text.size() - affix.size(), affix.size(), affix) == 0;
  };
  if (pattern.is(Kind::kString)) return matches(pattern.as_string());
  if (!pattern.is(Kind::kArray)) throw TemplateError(std::string(method) + "() needs a string or a tuple of strings");
  for (const Value& item : pattern.as_array()) {
    if (!item.is(Kind::kString)) throw TemplateError(std::string(method) + "() tuple elements must be strings");
    if (matches(item.as_string())) return true;
  }
  return false;
}

// Python's str.split: on runs of whitespace without a separator, else on each separator.
Value split(const std::string& text, const CallArgs& args) {
  const Value separator = args.positional.empty() ? Value::null() : args.positional[0];
  const Value limit = args.positional.size() > 1 ? args.positional[1] : Value::integer(-1);
  if (!separator.is(Kind::kString) && !separator.is(Kind::kNull)) throw TemplateError("split()'s separator must be a string");
  if (!limit.is(Kind::kInt)) throw TemplateError("split()'s maxsplit must be an integer");
  const int64_t maxsplit = limit.as_int();
  Array parts;
  if (separator.is(Kind::kNull)) {
    std::string rest = trim_start(text);
    while (!rest.empty()) {
      if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) >= maxsplit) {
        parts.push_back(Value::string(rest));
        break;
      }
      std::size_t end = 0;
      while (end < rest.size() && whitespace_at(rest, end) == 0) ++end;
      parts.push_back(Value::string(rest.substr(0, end)));
      rest = trim_start(std::string_view(rest).substr(end));
    }
    return Value::array(std::move(parts));
  }
  const std::string& sep = separator.as_string();
  if (sep.empty()) throw TemplateError("split(): empty separator");
  std::size_t start = 0;
  while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
    const std::size_t found = text.find(sep, start);
    if (found == std::string::npos) break;
    parts.push_back(Value::string(text.substr(start, found - start)));
    start = found + sep.size();
  }
  parts.push_back(Value::string(text.substr(start)));
  return Value::array(std::move(parts));
}

// Python's str.replace(old, new[, count]); an empty `old` inserts between characters.
Value replace(const std::string& text, const CallArgs& args) {
  const std::string& from = string_argument(args, 0, "replace");
  const std::string& to = string_argument(args, 1, "replace");
  const Value* count_value = args.positional.size() > 2 ? &args.positional[2] : args.keyword_arg("count");
  if (count_value != nullptr && !count_value->is(Kind::kInt) && !count_value->is(Kind::kNull)) {
    throw TemplateError("replace()'s count must be an integer");
  }
  int64_t left = count_value != nullptr && count_value->is(Kind::kInt) ? count_value->as_int() : -1;
  std::string out;
  if (from.empty()) {
    const auto points = code_points(text);
    for (const std::string& point : points) {
      if (left != 0) out += to, --left;
      out += point;
    }
    if (left != 0) out += to;
    return Value::string(out);
  }
  std::size_t start = 0;
  for (std::size_t found; left != 0 && (found = text.find(from, start)) != std::string::npos; --left) {
    out += text.substr(start, found - start) + to;
    start = found + from.size();
  }
  return Value::string(out + text.substr(start));
}

std::string ascii_case(const std::string& text, bool upper, const char* method) {
  std::string out = text;
  for (char& c : out) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      throw TemplateError(std::string(method) + "() on non-ASCII text is not supported");
    }
    c = static_cast<char>(upper ? std::toupper(static_cast<unsigned char>(c)) : std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

bool is_word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// The reference's title(): uppercase each ASCII word character that follows a non-word character.
std::string title_case(const std::string& text) {
  std::string out = text;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (is_word_char(out[i]) && (i == 0 || !is_word_char(out[i - 1]))) {
      out[i] = static_cast<char>(std::toupper(static_cast<unsigned char>(out[i])));
    }
  }
  return out;
}

Value string_member(const std::string& text, const std::string& name) {
  auto method = [](auto f) { return Value::function(f); };
  // strip/lstrip/rstrip take no characters in the reference: they remove whitespace whatever the argument.
  if (name == "strip") return method([text](const CallArgs&) { return Value::string(trim(text)); });
  if (name == "lstrip") return method([text](const CallArgs&) { return Value::string(trim_start(text)); });
  if (name == "rstrip") return method([text](const CallArgs&) { return Value::string(trim_end(text)); });
  if (name == "upper") return method([text](const CallArgs&) { return Value::string(ascii_case(text, true, "upper")); });
  if (name == "lower") return method([text](const CallArgs&) { return Value::string(ascii_case(text, false, "lower")); });
  if (name == "title") return method([text](const CallArgs&) { return Value::string(title_case(text)); });
  if (name == "capitalize") {
    return method([text](const CallArgs&) {
      if (text.empty()) return Value::string("");
      return Value::string(ascii_case(text.substr(0, 1), true, "capitalize") + text.substr(1));
    });
  }
  if (name == "startswith") return method([text](const CallArgs& a) { return Value::boolean(affix_matches(text, a, true, "startswith")); });
  if (name == "endswith") return method([text](const CallArgs& a) { return Value::boolean(affix_matches(text, a, false, "endswith")); });
  if (name == "split") return method([text](const CallArgs& a) { return split(text, a); });
  if (name == "replace") return method([text](const CallArgs& a) { return replace(text, a); });
  if (name == "length") return Value::integer(static_cast<int64_t>(utf16_length(text)));
  return Value();
}

Value pairs(const Object& o, int which) {  // 0 keys, 1 values, 2 [key, value]
  Array out;
  for (const auto& [key, value] : o.entries) {
    if (which == 0) out.push_back(Value::string(key));
    if (which == 1) out.push_back(value);
    if (which == 2) out.push_back(Value::array({Value::string(key), value}));
  }
  return Value::array(std::move(out));
}

Value object_member(const Value& object, const std::string& name) {
  if (const Value* entry = object.as_object().find(name)) return *entry;
  if (name == "get") {
    return Value::function([object](const CallArgs& a) {
      if (a.positional.empty() || !a.positional[0].is(Kind::kString)) throw TemplateError("get() needs a string key");
      if (const Value* found = object.as_object().find(a.positional[0].as_string())) return *found;
      return a.positional.size() > 1 ? a.positional[1] : Value::null();
    });
  }
  if (name == "keys") return Value::function([object](const CallArgs&) { return pairs(object.as_object(), 0); });
  if (name == "values") return Value::function([object](const CallArgs&) { return pairs(object.as_object(), 1); });
  if (name == "items") return Value::function([object](const CallArgs&) { return pairs(object.as_object(), 2); });
  return Value();
}

}  // namespace

Value member_of(const Value& object, const std::string& name) {
  switch (object.kind()) {
    case Kind::kObject:
      return object_member(object, name);
    case Kind::kNamespace: {
      const Value* entry = object.as_object().find(name);
      return entry != nullptr ? *entry : Value();
    }
    case Kind::kString:
      return string_member(object.as_string(), name);
    case Kind::kArray:
      return name == "length" ? Value::integer(static_cast<int64_t>(object.as_array().size())) : Value();
    default:
      return Value();
  }
}

}  // namespace lorafarm::jinja
