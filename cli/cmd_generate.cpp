// `lorafarm generate`: continue a prompt with a model.
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/input_paths.h"
#include "engine/adapter_io.h"
#include "engine/chat_format.h"
#include "engine/error.h"
#include "engine/generate.h"
#include "engine/model.h"
#include "engine/quantized_model_io.h"
#include "engine/tensor.h"
#include "engine/tokenizer.h"

namespace lorafarm::cli {
namespace {

struct GenerateCommandOptions {
  std::string model;
  std::string adapter;
  int rank = 0;  // a nested-rank adapter's prefix (0 = the whole adapter)
  std::string prompt;
  bool chat = false;   // the prompt is a user message, rendered with the model's chat template
  std::string system;  // with --chat: a system message before it
  int max_tokens = 100;
  float temperature = 0.0f;
  float top_p = 1.0f;
  uint64_t seed = 0;
  int threads = 1;
  bool json = false;
};

// The prompt's ids: BOS + the text, or with --chat the conversation
// [system?, user] rendered with the generation prompt (a model's template
// writes its own BOS).
std::vector<engine::TokenId> prompt_ids(const GenerateCommandOptions& options, const engine::Tokenizer& tokenizer) {
  if (!options.chat && !options.system.empty()) throw engine::InvalidInput("--system needs --chat");
  std::vector<engine::TokenId> ids;
  const auto format = options.chat ? engine::load_chat_format(options.model) : nullptr;
  if (tokenizer.add_bos() && !(format && format->is_model_template())) ids.push_back(*tokenizer.bos_id());
  std::vector<engine::TokenId> encoded;
  if (format) {
    nlohmann::ordered_json messages = nlohmann::ordered_json::array();
    if (!options.system.empty()) messages.push_back({{"role", "system"}, {"content", options.system}});
    messages.push_back({{"role", "user"}, {"content", options.prompt}});
    encoded = engine::encode_chat_text(tokenizer, *format, format->render(messages, true));
  } else {
    encoded = tokenizer.encode(options.prompt);
  }
  ids.insert(ids.end(), encoded.begin(), encoded.end());
  return ids;
}

int run_generate(const GenerateCommandOptions& options) {
  require_folder("--model", options.model);
  require_folder("--adapter", options.adapter);
  engine::set_num_threads(options.threads);
  const engine::Model model = engine::load_inference_model(options.model, options.adapter, options.rank);
  const auto tokenizer = engine::load_tokenizer(options.model);
  std::vector<engine::TokenId> ids = prompt_ids(options, *tokenizer);

  engine::GenerateOptions generate;
  generate.max_tokens = options.max_tokens;
  generate.temperature = options.temperature;
  generate.top_p = options.top_p;
  generate.seed = options.seed;
  // EOS ends the text; so does BOS, which llama2.c-style models emit between stories.
  for (int id : model.config.eos_token_ids) generate.stop_ids.push_back(id);
  if (tokenizer->eos_id()) generate.stop_ids.push_back(*tokenizer->eos_id());
  if (tokenizer->bos_id()) generate.stop_ids.push_back(*tokenizer->bos_id());

  const std::string prompt_text = tokenizer->decode(ids);
  if (options.json) {
    const std::size_t prompt_tokens = ids.size();
    const auto started = std::chrono::steady_clock::now();
    const auto out = engine::generate(model, ids, generate);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    ids.insert(ids.end(), out.begin(), out.end());
    const std::string text = tokenizer->decode(ids);
    // The completion is what decoding the new ids adds to the decoded prompt.
    const bool extends = text.compare(0, prompt_text.size(), prompt_text) == 0;
    std::cout << nlohmann::json{{"prompt", options.prompt},
                                {"text", text},
                                {"completion", extends ? text.substr(prompt_text.size()) : tokenizer->decode(out)},
                                {"prompt_tokens", prompt_tokens},
                                {"generated_tokens", out.size()},
                                {"seconds", seconds},
                                {"tokens_per_second", seconds > 0 ? static_cast<double>(out.size()) / seconds : 0.0}}
                     .dump()
              << "\n";
    return kExitOk;
  }

  // Print the text as it grows: decode everything, write what is new.
  std::string printed = prompt_text;
  std::cout << printed << std::flush;
  engine::generate(model, ids, generate, [&](engine::TokenId id) {
    ids.push_back(id);
    const std::string text = tokenizer->decode(ids);
    if (text.size() > printed.size() && text.compare(0, printed.size(), printed) == 0) {
      std::cout << text.substr(printed.size()) << std::flush;
    }
    printed = text;
  });
  std::cout << "\n";
  return kExitOk;
}

}  // namespace

Command add_generate_command(CLI::App& root) {
  auto options = std::make_shared<GenerateCommandOptions>();
  CLI::App* app = root.add_subcommand("generate", "Continue a prompt");
  app->add_option("--model", options->model, "Model folder")->required();
  app->add_option("--adapter", options->adapter, "Adapter folder (mlx-lm or PEFT layout) to apply");
  app->add_option("--rank", options->rank, "Use only the first N rank dimensions of a nested-rank (--dynamic-rank) adapter")
      ->check(CLI::PositiveNumber);
  app->add_option("--prompt", options->prompt, "Text to continue (with --chat: the user's message)")->required();
  app->add_flag("--chat", options->chat,
                "Send the prompt as a user message rendered with the model's chat template (tokenizer_config.json "
                "chat_template, else the default \"### User:\" format) and its generation prompt");
  app->add_option("--system", options->system, "With --chat: a system message before the prompt");
  app->add_option("--max-tokens", options->max_tokens, "New tokens at most")->check(CLI::NonNegativeNumber)->capture_default_str();
  app->add_option("--temp", options->temperature, "Sampling temperature (0 = greedy)")->check(CLI::NonNegativeNumber)->capture_default_str();
  app->add_option("--top-p", options->top_p, "Nucleus sampling mass")->check(CLI::Range(0.0f, 1.0f))->capture_default_str();
  app->add_option("--seed", options->seed, "Sampling seed")->capture_default_str();
  app->add_option("--threads", options->threads, "Threads (0 = all cores)")->capture_default_str();
  app->add_flag("--json", options->json,
                "Print one JSON object {prompt, text, completion, prompt_tokens, generated_tokens, seconds, tokens_per_second} "
                "instead of streaming the text");
  app->footer(
      "Examples:\n"
      "  lorafarm generate --model examples/models/stories260K --prompt \"Once upon a time\" --max-tokens 60\n"
      "  lorafarm generate --model examples/models/TinyStories-656K --prompt \"The cat\" --temp 0.8 --top-p 0.9 --seed 7\n"
      "  lorafarm generate --model examples/models/stories260K --prompt \"Once upon a time\" --max-tokens 20 --json\n"
      "  lorafarm generate --model path/to/Qwen3-0.6B --chat --system \"Be brief.\" --prompt \"What is LoRA?\"");
  return {app, [options] { return run_generate(*options); }};
}

}  // namespace lorafarm::cli
