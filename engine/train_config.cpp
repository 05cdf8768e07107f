// The training configuration (mlx-lm's lora.py options): parsing, writing back, validation.
#include <cmath>
#include <optional>
#include <set>
#include <string>

#include "engine/error.h"
#include "engine/trainer.h"

namespace lorafarm::engine {

namespace {

template <class T>
T field(const nlohmann::json& j, const char* key, const std::string& where) {
  try {
    return j.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    throw InvalidInput(where + key + " has the wrong type: " + j.at(key).dump());
  }
}

void check_known_options(const nlohmann::json& j) {
  static const std::set<std::string> known = {
      "model", "data", "fine_tune_type", "num_layers", "lora_parameters", "quantization", "batch_size", "iters",
      "learning_rate", "lr_schedule", "optimizer", "weight_decay", "adam_beta1", "adam_beta2", "adam_eps",
      "bias_correction", "max_grad_norm", "grad_checkpoint", "grad_accumulation_steps", "mask_prompt",
      "steps_per_report", "steps_per_eval", "val_batches", "test_batches", "save_every", "seed", "max_seq_length",
      "add_eos", "batch_order", "adapter_path", "adapter_format", "resume_adapter_file", "test", "threads", "train",
      "checkpoint_every", "checkpoint_dir", "resume_checkpoint", "train_mode", "beta", "loss_type", "label_smoothing",
      "precision", "effective_batch_size", "memory_limit_mb"};
  for (const auto& [key, value] : j.items()) {
    if (!known.count(key)) throw InvalidInput("unknown training option '" + key + "'");
  }
}

// mlx-lm's `lora_parameters` object: rank, scale/alpha, dropout, keys, nested ranks.
void parse_lora_parameters(const nlohmann::json& lp, AdapterConfig& adapter) {
  static const std::set<std::string> lora_known = {"rank",         "scale",       "alpha",        "rslora", "dropout",
                                                   "keys",         "dynamic_rank", "rank_ladder", "rank_sampling", "rank_scale",
                                                   "rank_scale_exponent"};
  for (const auto& [key, value] : lp.items()) {
    if (!lora_known.count(key)) throw InvalidInput("unknown option 'lora_parameters." + key + "'");
  }
  const std::string lw = "lora_parameters.";
  if (lp.contains("rank")) adapter.rank = field<int>(lp, "rank", lw);
  if (lp.contains("scale")) adapter.scale = field<float>(lp, "scale", lw);
  if (lp.contains("alpha") && !lp["alpha"].is_null()) adapter.alpha = field<float>(lp, "alpha", lw);
  if (lp.contains("rslora")) adapter.rslora = field<bool>(lp, "rslora", lw);
  if (lp.contains("dropout")) adapter.dropout = field<float>(lp, "dropout", lw);
  if (lp.contains("keys") && !lp["keys"].is_null()) adapter.keys = field<std::vector<std::string>>(lp, "keys", lw);
  if (lp.contains("dynamic_rank")) adapter.dynamic_rank = field<bool>(lp, "dynamic_rank", lw);
  if (lp.contains("rank_ladder") && !lp["rank_ladder"].is_null()) {
    adapter.rank_ladder = field<std::vector<int>>(lp, "rank_ladder", lw);
  }
  if (lp.contains("rank_sampling")) {
    adapter.rank_sampling = parse_rank_sampling(field<std::string>(lp, "rank_sampling", lw));
  }
  if (lp.contains("rank_scale")) adapter.rank_scale = parse_rank_scale(field<std::string>(lp, "rank_scale", lw));
  if (lp.contains("rank_scale_exponent") && !lp["rank_scale_exponent"].is_null()) {
    adapter.rank_scale_exponent = field<float>(lp, "rank_scale_exponent", lw);
  }
}

// The `quantization` object {bits, group_size, mode}; QLoRA quantizes even without one.
std::optional<QuantizationConfig> parse_quantization(const nlohmann::json& j, const std::string& type) {
  if (!(j.contains("quantization") && !j["quantization"].is_null()) && type != "qlora") return std::nullopt;
  QuantizationConfig q;
  const auto qj = j.value("quantization", nlohmann::json::object());
  if (!qj.is_object()) throw InvalidInput("quantization must be an object {bits, group_size, mode}");
  q.bits = qj.value("bits", 4);
  q.group_size = qj.value("group_size", 64);
  const std::string mode = qj.value("mode", std::string("affine"));
  if (mode != "affine" && mode != "nf4") throw InvalidInput("quantization.mode '" + mode + "' is not affine or nf4");
  q.mode = mode == "nf4" ? QuantizationConfig::Mode::kNf4 : QuantizationConfig::Mode::kAffine;
  return q;
}

// Batch size, iterations, learning rate and its schedule, and AdamW's settings.
void parse_optimisation(const nlohmann::json& j, TrainConfig& c) {
  const std::string w;
  if (j.contains("batch_size")) {
    if (j["batch_size"].is_string()) {
      if (j["batch_size"] != "auto") throw InvalidInput("batch_size " + j["batch_size"].dump() + " is not a number or auto");
      c.auto_batch_size = true;
    } else {
      c.batch_size = field<int>(j, "batch_size", w);
    }
  }
  if (j.contains("effective_batch_size")) c.effective_batch_size = field<int>(j, "effective_batch_size", w);
  if (j.contains("memory_limit_mb") && !j["memory_limit_mb"].is_null()) {
    c.memory_limit_mb = field<double>(j, "memory_limit_mb", w);
  }
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
}

// Data handling, reporting, evaluation, saving and threads.
void parse_run_options(const nlohmann::json& j, TrainConfig& c) {
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
    c.resume_adapter_file = field<std::string>(j, "resume_adapter_file", "");
  }
  c.test = j.value("test", c.test);
  c.threads = j.value("threads", c.threads);
  if (j.contains("checkpoint_every")) c.checkpoint_every = field<int>(j, "checkpoint_every", "");
  if (j.contains("checkpoint_dir")) c.checkpoint_dir = field<std::string>(j, "checkpoint_dir", "");
  if (j.contains("resume_checkpoint") && !j["resume_checkpoint"].is_null())
    c.resume_checkpoint = field<std::string>(j, "resume_checkpoint", "");
  if (j.contains("precision")) c.precision = parse_precision(field<std::string>(j, "precision", ""));
}

// Preference training: train_mode and DPO's options (TRL's names).
void parse_preference_options(const nlohmann::json& j, TrainConfig& c) {
  const std::string w;
  if (j.contains("train_mode")) c.train_mode = field<std::string>(j, "train_mode", w);
  if (j.contains("beta")) c.dpo.beta = field<double>(j, "beta", w);
  if (j.contains("loss_type")) c.dpo.loss_type = parse_dpo_loss_type(field<std::string>(j, "loss_type", w));
  if (j.contains("label_smoothing")) c.dpo.label_smoothing = field<double>(j, "label_smoothing", w);
}

// batch_size auto, effective_batch_size and memory_limit_mb (engine/batch_sizing.h).
void validate_batch_sizing(const TrainConfig& c) {
  if (c.effective_batch_size < 0) {
    throw InvalidInput("effective_batch_size must be at least 1, got " + std::to_string(c.effective_batch_size));
  }
  if (c.memory_limit_mb && !(*c.memory_limit_mb > 0)) {
    throw InvalidInput("memory_limit_mb must be positive, got " + std::to_string(*c.memory_limit_mb));
  }
  if (c.effective_batch_size > 0 && c.grad_accumulation_steps != 1) {
    throw InvalidInput("give effective_batch_size or grad_accumulation_steps, not both (the accumulation follows from "
                       "the effective batch)");
  }
  if (c.auto_batch_size && c.grad_accumulation_steps != 1) {
    throw InvalidInput("batch_size auto chooses grad_accumulation_steps itself; give effective_batch_size instead");
  }
  if (!c.auto_batch_size && c.effective_batch_size > 0 && c.effective_batch_size % c.batch_size != 0) {
    throw InvalidInput("effective_batch_size " + std::to_string(c.effective_batch_size) +
                       " is not a multiple of batch_size " + std::to_string(c.batch_size));
  }
}

}  // namespace

TrainConfig TrainConfig::from_json(const nlohmann::json& j) {
  if (!j.is_object()) throw InvalidInput("the training config must be a JSON object");
  check_known_options(j);
  TrainConfig c;
  const std::string w;
  if (j.contains("model")) c.model = field<std::string>(j, "model", w);
  if (j.contains("data")) c.data = field<std::string>(j, "data", w);
  std::string type = j.value("fine_tune_type", std::string("lora"));
  c.adapter.type = parse_fine_tune_type(type);
  if (j.contains("num_layers")) c.adapter.num_layers = field<int>(j, "num_layers", w);
  if (j.contains("lora_parameters")) parse_lora_parameters(j["lora_parameters"], c.adapter);
  if (auto q = parse_quantization(j, type)) c.adapter.quantization = q;
  parse_optimisation(j, c);
  parse_run_options(j, c);
  parse_preference_options(j, c);
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
                      {"batch_size", auto_batch_size ? nlohmann::json("auto") : nlohmann::json(batch_size)},
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
                      {"batch_order", batch_order},
                      {"precision", precision_name(precision)}};
  if (effective_batch_size > 0) j["effective_batch_size"] = effective_batch_size;
  if (memory_limit_mb) j["memory_limit_mb"] = *memory_limit_mb;
  if (train_mode != "sft") {
    j["train_mode"] = train_mode;
    j["beta"] = dpo.beta;
    j["loss_type"] = dpo_loss_type_name(dpo.loss_type);
    j["label_smoothing"] = dpo.label_smoothing;
  }
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
  validate_batch_sizing(*this);
  positive(steps_per_report, "steps_per_report");
  positive(steps_per_eval, "steps_per_eval");
  positive(max_seq_length, "max_seq_length");
  if (!(learning_rate > 0) || !std::isfinite(learning_rate)) {
    throw InvalidInput("learning_rate must be positive, got " + std::to_string(learning_rate));
  }
  if (val_batches == 0 || val_batches < -1) throw InvalidInput("val_batches must be -1 (all) or at least 1");
  if (save_every < 0) throw InvalidInput("save_every must be >= 0");
  if (checkpoint_every < 0) throw InvalidInput("checkpoint_every must be >= 0, got " + std::to_string(checkpoint_every));
  if (batch_order != "sorted" && batch_order != "shuffle") {
    throw InvalidInput("batch_order '" + batch_order + "' is not sorted or shuffle");
  }
  parse_adapter_format(adapter_format);
  if (train_mode != "sft" && train_mode != "dpo") throw InvalidInput("train_mode '" + train_mode + "' is not sft or dpo");
  if (train_mode == "dpo") {
    dpo.validate();
    if (adapter.dynamic_rank) throw InvalidInput("train_mode dpo does not support lora_parameters.dynamic_rank");
  }
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

}  // namespace lorafarm::engine
