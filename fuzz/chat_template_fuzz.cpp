// Fuzzes the chat-template interpreter: the input is a template source,
// parsed and rendered for a fixed three-message conversation. Any outcome
// but a text or a TemplateError is a bug, and rendering is deterministic.
#include <string>

#include "fuzz/fuzz_target.h"
#include "jinja/template.h"

LORAFARM_FUZZ_TARGET(chat_template) {
  using namespace lorafarm;
  static const jinja::Object variables = [] {
    jinja::Object v;
    v.set("messages", jinja::Value::from_json(nlohmann::ordered_json::parse(
                          R"([{"role": "system", "content": "Be brief."}, {"role": "user", "content": " Hi\n"},
                              {"role": "assistant", "content": "<think>\nhm\n</think>\n\nHello", "tool_calls": [
                               {"function": {"name": "f", "arguments": {"a": 1, "b": [true, null, 2.5]}}}]}])")));
    v.set("add_generation_prompt", jinja::Value::boolean(true));
    v.set("bos_token", jinja::Value::string("<s>"));
    v.set("eos_token", jinja::Value::string("</s>"));
    return v;
  }();
  const std::string source(reinterpret_cast<const char*>(data), size);
  try {
    const jinja::Template parsed(source);
    const std::string first = parsed.render(variables);
    fuzz::check(parsed.render(variables) == first);
  } catch (const jinja::TemplateError&) {
    // the expected outcome for a template that does not parse or render
  }
  return 0;
}
