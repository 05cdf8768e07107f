"""One training run of examples/hf_lora_trainer.py: the model with its LoRA
branches, the data, AdamW with the Trainer's learning-rate schedules, the
periodic logs, evaluations and checkpoints, and the final outputs."""
import json
import math
import os
import random
import time

import torch

from . import data as data_lib
from .hf_state import TrainerState, control_flags, save_metrics, speed_metrics
from .llama import Llama, ModelError
from .peft_io import save_adapter
from .sp_tokenizer import SentencePieceBPE, TokenizerError


def lr_factor(kind, step, warmup, total):
    """transformers' get_scheduler lambdas at 0-based step `step` (multiplies the peak)."""
    if kind != "constant" and step < warmup:
        return step / max(1, warmup)
    if kind in ("constant", "constant_with_warmup"):
        return 1.0
    progress = (step - warmup) / max(1, total - warmup)
    if kind == "linear":
        return max(0.0, 1.0 - progress)
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))


def batch_loss(model, batch):
    """(summed nats over the weighted targets, target count) of one batch."""
    inputs, targets, weights = batch
    logits = model(inputs)
    nats = torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="none")
    return (nats * weights.flatten()).sum(), int(weights.sum().item())


@torch.no_grad()
def evaluate(model, samples, batch_size, max_batches):
    """Token-weighted mean loss over length-sorted batches (the engine's evaluate_loss); (loss, samples, batches)."""
    batches = data_lib.length_sorted_batches(samples, batch_size, keep_partial=True)
    if max_batches >= 0:
        batches = batches[:max_batches]
    total, tokens = 0.0, 0
    for indices in batches:
        s, n = batch_loss(model, data_lib.make_batch(samples, indices))
        total, tokens = total + s.item(), tokens + n
    return total / tokens, sum(len(b) for b in batches), len(batches)


def load_tokenizer(folder):
    """The folder's sentencepiece model with BOS/EOS as tokenizer_config.json names them."""
    path = os.path.join(folder, "tokenizer.model")
    if not os.path.exists(path):
        raise TokenizerError(f"{folder}: no tokenizer.model (this script reads sentencepiece BPE models only)")
    tokenizer = SentencePieceBPE(path)
    config_path = os.path.join(folder, "tokenizer_config.json")
    config = {}
    if os.path.exists(config_path):
        with open(config_path) as f:
            config = json.load(f)
    for role in ("bos", "eos"):
        name = config.get(f"{role}_token")
        if isinstance(name, dict):
            name = name.get("content")
        if name:
            if name not in tokenizer.pieces:
                raise TokenizerError(f"{config_path}: {role}_token {name!r} is not a piece of {path}")
            setattr(tokenizer, f"{role}_id", tokenizer.pieces.index(name))
    tokenizer.add_bos = bool(config.get("add_bos_token", True))
    return tokenizer


class Run:
    """One training run: the model with its LoRA branches, the data, the optimizer and the Trainer state."""

    def __init__(self, args):
        self.args = args
        if not os.path.isdir(args.model_name_or_path):
            raise ModelError(f"{args.model_name_or_path}: not a model folder (only local folders are read)")
        torch.manual_seed(args.seed)
        random.seed(args.seed)
        tokenizer = load_tokenizer(args.model_name_or_path)
        self.model = Llama(args.model_name_or_path)
        max_length = min(args.max_seq_length, self.model.config.max_positions)
        load = lambda split: data_lib.load_split(args.dataset_name, split, tokenizer, max_length,  # noqa: E731
                                                 args.completion_only_loss)
        self.train_set, self.valid_set = load("train"), load("valid")
        self.model.add_lora(args.lora_target_modules, args.lora_r, args.lora_alpha, args.lora_dropout)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.params, lr=args.learning_rate, betas=(args.adam_beta1, args.adam_beta2),
                                           eps=args.adam_epsilon, weight_decay=args.weight_decay)
        self.stream = data_lib.BatchStream(self.train_set, args.per_device_train_batch_size, args.seed)
        # The Trainer's num_update_steps_per_epoch, max_steps and num_train_epochs.
        per_epoch = max(self.stream.batches_per_epoch() // args.gradient_accumulation_steps, 1)
        self.max_steps = args.max_steps if args.max_steps > 0 else math.ceil(args.num_train_epochs * per_epoch)
        self.state = TrainerState(self.max_steps, args.logging_steps, args.eval_steps, args.save_steps,
                                  args.per_device_train_batch_size, math.ceil(self.max_steps / per_epoch))
        # transformers' floating_point_ops: 6 · (non-embedding parameters) · input tokens.
        self.flops_per_token = 6 * sum(p.numel() for n, p in self.model.named_parameters() if n != "embed")

    def lr(self, step):
        a = self.args
        return a.learning_rate * lr_factor(a.lr_scheduler_type, step, a.warmup_steps, self.max_steps)

    def optimizer_step(self, step):
        """One update over gradient_accumulation_steps batches: (mean of their mean losses, grad norm)."""
        accumulation = self.args.gradient_accumulation_steps
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr(step - 1)
        self.optimizer.zero_grad()
        loss = 0.0
        for _ in range(accumulation):
            batch = self.stream.next()
            total, tokens = batch_loss(self.model, batch)
            if tokens == 0:
                raise data_lib.DataError("a training batch has no target tokens (all masked)")
            (total / (tokens * accumulation)).backward()
            loss += total.item() / tokens / accumulation
            self.state["total_flos"] += float(self.flops_per_token * batch[0].numel())
        norm = torch.norm(torch.stack([p.grad.norm() for p in self.params])).item()
        if self.args.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.params, self.args.max_grad_norm)
        self.optimizer.step()
        return loss, norm

    def evaluate(self, max_batches):
        self.model.eval()
        started = time.time()
        loss, samples, batches = evaluate(self.model, self.valid_set, self.args.per_device_train_batch_size,
                                          max_batches)
        self.model.train()
        metrics = {"eval_loss": loss, **speed_metrics("eval", started, samples, batches)}
        self.state.log(metrics)
        return metrics, samples

    def checkpoint(self, folder, final_step):
        """The adapter and trainer_state.json, as Trainer._save_checkpoint writes them."""
        a, state = self.args, self.state
        save_adapter(folder, self.model, a.model_name_or_path, a.lora_r, a.lora_alpha, a.lora_dropout,
                     a.lora_target_modules)
        best = state["best_global_step"]
        if best is not None and os.path.isdir(os.path.join(a.output_dir, f"checkpoint-{best}")):
            state["best_model_checkpoint"] = os.path.join(a.output_dir, f"checkpoint-{best}")
        state.save(os.path.join(folder, "trainer_state.json"), control_flags(True, final_step))

    def train(self):
        a, state = self.args, self.state
        started, window_loss, window_steps, total_loss = time.time(), 0.0, 0, 0.0
        self.model.train()
        for step in range(1, self.max_steps + 1):
            loss, grad_norm = self.optimizer_step(step)
            if not math.isfinite(loss):
                raise FloatingPointError(f"training diverged: loss is {loss} at step {step}")
            state["global_step"] = step
            state["epoch"] = step * a.gradient_accumulation_steps / self.stream.batches_per_epoch()
            window_loss, window_steps, total_loss = window_loss + loss, window_steps + 1, total_loss + loss
            if step % a.logging_steps == 0:
                state.log({"loss": round(window_loss / window_steps, 4), "grad_norm": grad_norm,
                           "learning_rate": self.lr(step)})
                window_loss, window_steps = 0.0, 0
            if a.eval_strategy == "steps" and step % a.eval_steps == 0:
                metrics, _ = self.evaluate(a.val_batches)
                state.update_best(metrics, a.metric_for_best_model, a.greater_is_better)
            if a.save_strategy == "steps" and (step % a.save_steps == 0 or step == self.max_steps):
                self.checkpoint(os.path.join(a.output_dir, f"checkpoint-{step}"), step == self.max_steps)
        samples = self.max_steps * a.per_device_train_batch_size * a.gradient_accumulation_steps
        metrics = speed_metrics("train", started, samples, self.max_steps)
        metrics["total_flos"] = state["total_flos"]
        metrics["train_loss"] = total_loss / self.max_steps
        state.log(metrics)  # adds "epoch", as Trainer.log does to the metrics train() returns
        return metrics

    def finish(self, train_metrics):
        """Whole-split validation, then the adapter, trainer_state.json and the *_results.json files."""
        a = self.args
        metrics, samples = self.evaluate(-1)
        eval_metrics = {**metrics, "eval_samples": samples, "perplexity": math.exp(metrics["eval_loss"])}
        self.checkpoint(a.output_dir, True)
        save_metrics(a.output_dir, "train", {**train_metrics, "train_samples": len(self.train_set)})
        save_metrics(a.output_dir, "eval", eval_metrics)


