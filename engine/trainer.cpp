// The training loop and its configuration.
#include "engine/trainer.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>
#include <set>

#include "engine/error.h"
#include "engine/ops.h"
#include "engine/quantized_base.h"
#include "engine/tokenizer.h"

namespace lorafarm::engine {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

template <class T>
T field(const nlohmann::json& j, const char* key, const std::string& where) {
  try {
    return j.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    throw InvalidInput(where + key + " has the wrong type: " + j.at(key).dump());
  }
}

uint64_t micro_seed(uint64_t seed, int64_t step, int micro) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(step) * 0xBF58476D1CE4E5B9ull + micro;
  return x ^ (x >> 29);
}

int64_t float_bytes(const Matrix& m) { return static_cast<int64_t>(m.size()) * 4; }
int64_t float_bytes(const Vector& v) { return static_cast<int64_t>(v.size()) * 4; }

MemoryTally measure_tally(const TrainableModel& tm, const AdamW& opt, const TrainConfig& config, int seq_length) {
  const Model& m = tm.model();
  MemoryTally t;
  t.base_weights = float_bytes(m.embed_tokens) + float_bytes(m.lm_head) + float_bytes(m.final_norm);
  for (const DecoderBlock& b : m.blocks) {
    t.base_weights += float_bytes(b.input_norm) + float_bytes(b.post_attention_norm);
    for (const Linear* l : {&b.q_proj, &b.k_proj, &b.v_proj, &b.o_proj, &b.gate_proj, &b.up_proj, &b.down_proj}) {
      t.base_weights += float_bytes(l->weight) + float_bytes(l->bias);
    }
  }
  if (tm.config().quantization) {
    for (int block = 0; block < m.config.num_layers; ++block) {
      for (int mod = 0; mod < 7; ++mod) {
        const AdaptedLinear& l = tm.layer(block, static_cast<Module>(mod));
        if (l.quantized()) t.quantized_weights += quantized_base_bytes(*l.quantized_base());
      }
    }
  }
  const int64_t trainable = tm.trainable_params() * 4;
  if (config.adapter.type != FineTuneType::kFull) t.adapter_params = trainable;
  t.gradients = trainable;
  t.optimizer_state = opt.state_floats() * 4;
  TrainShape shape{config.batch_size, seq_length, config.grad_checkpoint};
  t.activations = estimate_training_memory(m.config, tm.config(), shape).activations;
  return t;
}

}  // namespace

TrainConfig TrainConfig::from_json(const nlohmann::json& j) {
  if (!j.is_object()) throw InvalidInput("the training config must be a JSON object");
  static const std::set<std::string> known = {
      "model", "data", "fine_tune_type", "num_layers", "lora_parameters", "quantization", "batch_size", "iters",
      "learning_rate", "lr_schedule", "optimizer", "weight_decay", "adam_beta1", "adam_beta2", "adam_eps",
      "bias_correction", "max_grad_norm", "grad_checkpoint", "grad_accumulation_steps", "mask_prompt",
      "steps_per_report", "steps_per_eval", "val_batches", "test_batches", "save_every", "seed", "max_seq_length",
      "add_eos", "batch_order", "adapter_path", "adapter_format", "resume_adapter_file", "test", "threads", "train"};
  for (const auto& [key, value] : j.items()) {
    if (!known.count(key)) throw InvalidInput("unknown training option '" + key + "'");
  }
  TrainConfig c;
  const std::string w;
  if (j.contains("model")) c.model = field<std::string>(j, "model", w);
  if (j.contains("data")) c.data = field<std::string>(j, "data", w);
  std::string type = j.value("fine_tune_type", std::string("lora"));
  c.adapter.type = parse_fine_tune_type(type);
  if (j.contains("num_layers")) c.adapter.num_layers = field<int>(j, "num_layers", w);
  if (j.contains("lora_parameters")) {
    const auto& lp = j["lora_parameters"];
    static const std::set<std::string> lora_known = {"rank",         "scale",       "alpha",        "rslora", "dropout",
                                                     "keys",         "dynamic_rank", "rank_ladder", "rank_sampling", "rank_scale",
                                                     "rank_scale_exponent"};
    for (const auto& [key, value] : lp.items()) {
      if (!lora_known.count(key)) throw InvalidInput("unknown option 'lora_parameters." + key + "'");
    }
    const std::string lw = "lora_parameters.";
    if (lp.contains("rank")) c.adapter.rank = field<int>(lp, "rank", lw);
    if (lp.contains("scale")) c.adapter.scale = field<float>(lp, "scale", lw);
    if (lp.contains("alpha") && !lp["alpha"].is_null()) c.adapter.alpha = field<float>(lp, "alpha", lw);
    if (lp.contains("rslora")) c.adapter.rslora = field<bool>(lp, "rslora", lw);
    if (lp.contains("dropout")) c.adapter.dropout = field<float>(lp, "dropout", lw);
    if (lp.contains("keys") && !lp["keys"].is_null()) c.adapter.keys = field<std::vector<std::string>>(lp, "keys", lw);
    if (lp.contains("dynamic_rank")) c.adapter.dynamic_rank = field<bool>(lp, "dynamic_rank", lw);
    if (lp.contains("rank_ladder") && !lp["rank_ladder"].is_null()) {
      c.adapter.rank_ladder = field<std::vector<int>>(lp, "rank_ladder", lw);
    }
    if (lp.contains("rank_sampling")) {
      c.adapter.rank_sampling = parse_rank_sampling(field<std::string>(lp, "rank_sampling", lw));
    }
    if (lp.contains("rank_scale")) c.adapter.rank_scale = parse_rank_scale(field<std::string>(lp, "rank_scale", lw));
    if (lp.contains("rank_scale_exponent") && !lp["rank_scale_exponent"].is_null()) {
      c.adapter.rank_scale_exponent = field<float>(lp, "rank_scale_exponent", lw);
    }
  }
  if ((j.contains("quantization") && !j["quantization"].is_null()) || type == "qlora") {
    QuantizationConfig q;
    const auto qj = j.value("quantization", nlohmann::json::object());
    if (!qj.is_object()) throw InvalidInput("quantization must be an object {bits, group_size, mode}");
    q.bits = qj.value("bits", 4);
    q.group_size = qj.value("group_size", 64);
    const std::string mode = qj.value("mode", std::string("affine"));
    if (mode != "affine" && mode != "nf4") throw InvalidInput("quantization.mode '" + mode + "' is not affine or nf4");
    q.mode = mode == "nf4" ? QuantizationConfig::Mode::kNf4 : QuantizationConfig::Mode::kAffine;
    c.adapter.quantization = q;
  }
  if (j.contains("batch_size")) c.batch_size = field<int>(j, "batch_size", w);
  if (j.contains("iters")) c.iters = field<int>(j, "iters", w);
  if (j.contains("learning_rate")) c.learning_rate = field<double>(j, "learning_rate", w);
  c.lr_schedule = LrSchedule::from_json(j.value("lr_schedule", nlohmann::json()), c.learning_rate);
  c.learning_rate = c.lr_schedule.peak;  // mlx-lm's schedule arguments name the peak rate
  if (j.contains("optimizer")) {
    const std::string opt = field<std::string>(j, "optimizer", w);
    if (opt != "adam" && opt != "adamw") throw InvalidInput("optimizer '" + opt + "' is not adam or adamw");
  }
  c.optimizer.weight_decay = j.value("weight_decay", c.optimizer.weight_decay);
  c.optimizer.beta1 = j.value("adam_beta1", c.optimizer.beta1);
  c.optimizer.beta2 = j.value("adam_beta2", c.optimizer.beta2);
  c.optimizer.eps = j.value("adam_eps", c.optimizer.eps);
  c.optimizer.bias_correction = j.value("bias_correction", c.optimizer.bias_correction);
  c.max_grad_norm = j.value("max_grad_norm", c.max_grad_norm);
  c.grad_checkpoint = j.value("grad_checkpoint", c.grad_checkpoint);
  c.grad_accumulation_steps = j.value("grad_accumulation_steps", c.grad_accumulation_steps);
  c.mask_prompt = j.value("mask_prompt", c.mask_prompt);
  c.steps_per_report = j.value("steps_per_report", c.steps_per_report);
  c.steps_per_eval = j.value("steps_per_eval", c.steps_per_eval);
  c.val_batches = j.value("val_batches", c.val_batches);
  c.test_batches = j.value("test_batches", c.test_batches);
  c.save_every = j.value("save_every", c.save_every);
  c.seed = j.value("seed", c.seed);
  c.max_seq_length = j.value("max_seq_length", c.max_seq_length);
  c.add_eos = j.value("add_eos", c.add_eos);
  c.batch_order = j.value("batch_order", c.batch_order);
  c.adapter_path = j.value("adapter_path", c.adapter_path);
  c.adapter_format = j.value("adapter_format", c.adapter_format);
  if (j.contains("resume_adapter_file") && !j["resume_adapter_file"].is_null()) {
    c.resume_adapter_file = field<std::string>(j, "resume_adapter_file", w);
  }
  c.test = j.value("test", c.test);
  c.threads = j.value("threads", c.threads);
  return c;
}

nlohmann::json TrainConfig::to_json() const {
  nlohmann::json lora = {{"rank", adapter.rank}, {"scale", adapter.scale}, {"dropout", adapter.dropout},
                         {"keys", adapter.keys}, {"rslora", adapter.rslora}};
  if (adapter.alpha) lora["alpha"] = *adapter.alpha;
  if (adapter.dynamic_rank) {
    lora["dynamic_rank"] = true;
    lora["rank_ladder"] = rank_ladder(adapter);
    lora["rank_sampling"] = rank_sampling_name(adapter.rank_sampling);
    lora["rank_scale"] = rank_scale_name(adapter.rank_scale);
    if (adapter.rank_scale_exponent) lora["rank_scale_exponent"] = *adapter.rank_scale_exponent;
  }
  nlohmann::json j = {{"model", model},
                      {"data", data},
                      {"fine_tune_type", fine_tune_type_name(adapter.type)},
                      {"num_layers", adapter.num_layers},
                      {"lora_parameters", lora},
                      {"batch_size", batch_size},
                      {"iters", iters},
                      {"learning_rate", learning_rate},
                      {"lr_schedule", lr_schedule.to_json()},
                      {"weight_decay", optimizer.weight_decay},
                      {"max_grad_norm", max_grad_norm},
                      {"grad_checkpoint", grad_checkpoint},
                      {"grad_accumulation_steps", grad_accumulation_steps},
                      {"mask_prompt", mask_prompt},
                      {"steps_per_report", steps_per_report},
                      {"steps_per_eval", steps_per_eval},
                      {"val_batches", val_batches},
                      {"save_every", save_every},
                      {"seed", seed},
                      {"max_seq_length", max_seq_length},
                      {"batch_order", batch_order}};
  if (adapter.quantization) {
    j["quantization"] = {{"bits", adapter.quantization->bits}, {"group_size", adapter.quantization->group_size},
                         {"mode", adapter.quantization->mode == QuantizationConfig::Mode::kNf4 ? "nf4" : "affine"}};
  }
  return j;
}

void TrainConfig::validate() const {
  auto positive = [](int v, const char* name) {
    if (v < 1) throw InvalidInput(std::string(name) + " must be at least 1, got " + std::to_string(v));
  };
  if (model.empty()) throw InvalidInput("model is required");
  if (data.empty()) throw InvalidInput("data is required");
  positive(batch_size, "batch_size");
  positive(iters, "iters");
  positive(grad_accumulation_steps, "grad_accumulation_steps");
  positive(steps_per_report, "steps_per_report");
  positive(steps_per_eval, "steps_per_eval");
  positive(max_seq_length, "max_seq_length");
  if (!(learning_rate > 0) || !std::isfinite(learning_rate)) {
    throw InvalidInput("learning_rate must be positive, got " + std::to_string(learning_rate));
  }
  if (val_batches == 0 || val_batches < -1) throw InvalidInput("val_batches must be -1 (all) or at least 1");
  if (save_every < 0) throw InvalidInput("save_every must be >= 0");
  if (batch_order != "sorted" && batch_order != "shuffle") {
    throw InvalidInput("batch_order '" + batch_order + "' is not sorted or shuffle");
  }
  parse_adapter_format(adapter_format);
  if (adapter.quantization) {
    const auto& q = *adapter.quantization;
    if (q.mode == QuantizationConfig::Mode::kAffine && q.bits != 4 && q.bits != 8) {
      throw InvalidInput("quantization.bits must be 4 or 8, got " + std::to_string(q.bits));
    }
    if (q.group_size != 32 && q.group_size != 64 && q.group_size != 128) {
      throw InvalidInput("quantization.group_size must be 32, 64 or 128, got " + std::to_string(q.group_size));
    }
  }
}

SplitLoss evaluate_loss(const TrainableModel& model, const std::vector<Sample>& samples, int batch_size,
                        int max_batches) {
  const auto batches = length_sorted_batches(samples, batch_size, true);
  double sum = 0;
  int64_t tokens = 0;
  for (std::size_t i = 0; i < batches.size(); ++i) {
    if (max_batches >= 0 && static_cast<int>(i) >= max_batches) break;
    const auto l = model.loss(make_batch(samples, batches[i]));
    sum += l.sum;
    tokens += l.tokens;
  }
  if (tokens == 0) throw InvalidInput("evaluation set has no target tokens");
  return {sum / static_cast<double>(tokens), tokens};
}

LadderLoss evaluate_ladder(TrainableModel& model, std::span<const int> ladder, const std::vector<Sample>& samples,
                           int batch_size, int max_batches) {
  LadderLoss out;
  const int r_max = model.config().rank;
  bool full_done = false;
  for (int b : ladder) {
    model.set_active_rank(b);
    const SplitLoss l = evaluate_loss(model, samples, batch_size, max_batches);
    out.ranks.push_back({b, l.loss, std::exp(l.loss)});
    if (b == r_max) {
      out.full = l;
      full_done = true;
    }
  }
  if (!ladder.empty()) model.set_active_rank(r_max);
  if (!full_done) out.full = evaluate_loss(model, samples, batch_size, max_batches);
  return out;
}

TrainResult train(const TrainConfig& config, const TrainCallbacks& callbacks) {
  config.validate();
  set_num_threads(config.threads);
  auto message = [&](const std::string& m) {
    if (callbacks.on_message) callbacks.on_message(m);
  };
  const ModelConfig model_config = ModelConfig::load(config.model);
  const auto tokenizer = load_tokenizer(config.model);
  DataOptions data;
  data.max_seq_length = std::min(config.max_seq_length, model_config.max_position_embeddings);
  data.mask_prompt = config.mask_prompt;
  data.add_eos = config.add_eos;
  const auto train_set = load_split(config.data, "train", *tokenizer, data);
  const auto valid_set = load_split(config.data, "valid", *tokenizer, data);
  std::vector<Sample> test_set;
  const bool has_test = config.test && std::filesystem::exists(std::filesystem::path(config.data) / "test.jsonl");
  if (has_test) test_set = load_split(config.data, "test", *tokenizer, data);

  TrainableModel tm = load_trainable_model(config.model, config.adapter, config.seed);
  if (!tm.unquantized_layers().empty()) {
    std::string names;
    for (const auto& n : tm.unquantized_layers()) names += (names.empty() ? "" : ", ") + n;
    message("left unquantized (input not a multiple of group size " +
            std::to_string(tm.config().quantization->group_size) + "): " + names);
  }
  if (!config.resume_adapter_file.empty()) {
    load_adapter_weights(config.resume_adapter_file, tm);
    message("resumed from " + config.resume_adapter_file);
  }
  AdamW optimizer(tm.parameters(), config.optimizer);
  BatchStream stream(train_set, config.batch_size, config.seed,
                     config.batch_order == "shuffle" ? BatchStream::Order::kShuffled
                                                     : BatchStream::Order::kSortedGroups);
  LrSchedule schedule = config.lr_schedule;
  schedule.peak = config.learning_rate;
  const AdapterFormat format = parse_adapter_format(config.adapter_format);
  const nlohmann::json saved_config = config.to_json();

  // Nested ranks: the ladder scored at each validation (empty = plain adapter).
  const std::vector<int> ladder = config.adapter.dynamic_rank ? rank_ladder(tm.config()) : std::vector<int>{};
  std::optional<NestedRankStep> nested_step;
  if (!ladder.empty()) nested_step.emplace(config.adapter.rank);

  TrainResult result;
  result.trainable_params = tm.trainable_params();
  result.unquantized_layers = tm.unquantized_layers();
  int max_length = 0;
  for (const Sample& s : train_set) max_length = std::max(max_length, static_cast<int>(s.tokens.size()));

  double window_loss = 0, window_seconds = 0;
  int64_t window_tokens = 0;
  double train_seconds = 0;
  for (int64_t step = 1; step <= config.iters; ++step) {
    const auto started = Clock::now();
    tm.zero_grad();
    if (!ladder.empty()) {  // one prefix per optimizer step, shared by its micro-batches
      tm.set_active_rank(sample_prefix_rank(config.adapter.rank_sampling, ladder, config.adapter.rank, config.seed, step));
    }
    std::vector<TrainBatch> micro;
    int64_t step_tokens = 0;
    for (int a = 0; a < config.grad_accumulation_steps; ++a) {
      micro.push_back(stream.next());
      step_tokens += micro.back().loss_tokens();
    }
    double step_sum = 0;
    for (int a = 0; a < config.grad_accumulation_steps; ++a) {
      const TrainBatch& batch = micro[static_cast<std::size_t>(a)];
      const int64_t tokens = batch.loss_tokens();
      if (tokens == 0) throw InvalidInput("a training batch has no target tokens (all masked)");
      // Mean over each micro-batch's tokens, averaged over the micro-batches (as mlx-lm).
      const float scale = 1.0f / (static_cast<float>(tokens) * static_cast<float>(config.grad_accumulation_steps));
      const auto l = tm.forward_backward(batch, scale, config.grad_checkpoint, micro_seed(config.seed, step, a));
      step_sum += l.sum;
    }
    if (config.max_grad_norm > 0) clip_grad_norm(tm.parameters(), config.max_grad_norm);
    const double lr = schedule.at(step - 1, config.iters);
    if (nested_step) {
      nested_step->apply(tm.parameters(), optimizer, tm.active_rank(), lr);  // only the prefix moves
    } else {
      optimizer.step(tm.parameters(), lr);
    }
    const double step_loss = step_sum / static_cast<double>(step_tokens);
    if (!std::isfinite(step_loss)) throw InvalidInput("training diverged: loss is " + std::to_string(step_loss) +
                                                      " at step " + std::to_string(step));
    result.step_losses.push_back(step_loss);
    const double seconds = seconds_since(started);
    train_seconds += seconds;
    window_seconds += seconds;
    window_loss += step_sum;
    window_tokens += step_tokens;
    result.trained_tokens += step_tokens;
    if (callbacks.on_step) callbacks.on_step(step, config.iters);

    if (step % config.steps_per_report == 0 || step == config.iters) {
      StepReport r;
      r.step = step;
      r.train_loss = window_loss / static_cast<double>(window_tokens);
      r.learning_rate = lr;
      r.tokens_per_second = static_cast<double>(window_tokens) / window_seconds;
      r.trained_tokens = result.trained_tokens;
      r.peak_rss_mb = peak_rss_mb();
      if (callbacks.on_report) callbacks.on_report(r);
      window_loss = 0;
      window_seconds = 0;
      window_tokens = 0;
    }
    if (step % config.steps_per_eval == 0 && step != config.iters) {
      const LadderLoss v = evaluate_ladder(tm, ladder, valid_set, config.batch_size, config.val_batches);
      if (callbacks.on_eval) callbacks.on_eval({step, v.full.loss, std::exp(v.full.loss), v.ranks});
    }
    if (config.save_every > 0 && step % config.save_every == 0 && step != config.iters) {
      char name[64];
      std::snprintf(name, sizeof name, "%07lld_%s", static_cast<long long>(step),
                    format == AdapterFormat::kMlx ? "adapters.safetensors" : "adapter_model.safetensors");
      save_adapter(config.adapter_path, tm, format, saved_config, name);
      save_adapter(config.adapter_path, tm, format, saved_config);
    }
  }
  save_adapter(config.adapter_path, tm, format, saved_config);

  const LadderLoss v = evaluate_ladder(tm, ladder, valid_set, config.batch_size, -1);
  result.val_loss = v.full.loss;
  result.val_ppl = std::exp(v.full.loss);
  result.val_ranks = v.ranks;
  if (callbacks.on_eval) callbacks.on_eval({config.iters, result.val_loss, result.val_ppl, v.ranks});
  if (has_test) {
    const LadderLoss t = evaluate_ladder(tm, ladder, test_set, config.batch_size, config.test_batches);
    result.test_loss = t.full.loss;
    result.test_ppl = std::exp(t.full.loss);
    result.test_ranks = t.ranks;
  }
  result.train_seconds = train_seconds;
  result.tokens_per_second = static_cast<double>(result.trained_tokens) / train_seconds;
  result.peak_rss_mb = peak_rss_mb();
  result.memory = measure_tally(tm, optimizer, config, max_length);
  return result;
}

}  // namespace lorafarm::engine
