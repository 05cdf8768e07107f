#!/usr/bin/env python3
"""LoRA fine-tuning of a local Llama model folder in plain PyTorch, with the
Hugging Face Trainer's command line, log lines and output files: a second,
independent trainer that lorafarm farms as a command trial (docs/external-
trainers.md, "The example PyTorch trainer"). It needs only torch.

    python3 examples/hf_lora_trainer.py --model_name_or_path examples/models/stories260K \\
      --dataset_name examples/data/fortunes --output_dir /tmp/hf-out --use_peft \\
      --lora_r 8 --lora_alpha 160 --lora_dropout 0 --lora_target_modules all-linear \\
      --learning_rate 1e-3 --lr_scheduler_type constant --max_grad_norm 0 \\
      --per_device_train_batch_size 8 --max_steps 100 --max_seq_length 256 --seed 42 \\
      --logging_steps 10 --eval_strategy steps --eval_steps 50 --val_batches 10 --save_steps 50

Model, tokenizer, data and batching: examples/torchtrainer/ (no code of
transformers, PEFT, TRL or sentencepiece is used or copied).
"""
import argparse
import json
import math
import os
import random
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torchtrainer import data as data_lib  # noqa: E402
from torchtrainer.hf_state import TrainerState, control_flags, save_metrics, speed_metrics  # noqa: E402
from torchtrainer.llama import LINEAR_MODULES, PEFT_DEFAULT_TARGETS, Llama, ModelError  # noqa: E402
from torchtrainer.peft_io import save_adapter  # noqa: E402
from torchtrainer.safetensors_io import SafetensorsError  # noqa: E402
from torchtrainer.sp_tokenizer import SentencePieceBPE, TokenizerError  # noqa: E402


def str2bool(value):
    """HfArgumentParser's booleans: `--flag`, `--flag true`, `--flag false`."""
    if isinstance(value, bool):
        return value
    if value.lower() in ("yes", "true", "t", "y", "1"):
        return True
    if value.lower() in ("no", "false", "f", "n", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean, got {value!r}")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    a = p.add_argument
    a("--model_name_or_path", required=True, help="local Hugging Face Llama folder (config.json, model.safetensors, "
                                                  "tokenizer.model)")
    a("--dataset_name", required=True, help="folder with train.jsonl and valid.jsonl (test.jsonl is not used)")
    a("--output_dir", required=True)
    a("--learning_rate", type=float, default=5e-5)
    a("--per_device_train_batch_size", type=int, default=8)
    a("--gradient_accumulation_steps", type=int, default=1)
    a("--max_steps", type=int, default=-1, help="optimizer steps; <= 0: num_train_epochs")
    a("--num_train_epochs", type=float, default=3.0)
    a("--logging_steps", type=int, default=500)
    a("--eval_strategy", choices=["no", "steps"], default="no")
    a("--eval_steps", type=int, default=None, help="default: logging_steps")
    a("--save_strategy", choices=["no", "steps"], default="steps")
    a("--save_steps", type=int, default=500)
    a("--seed", type=int, default=42)
    a("--lr_scheduler_type", choices=["linear", "cosine", "constant", "constant_with_warmup"], default="linear")
    a("--warmup_steps", type=int, default=0)
    a("--weight_decay", type=float, default=0.0)
    a("--adam_beta1", type=float, default=0.9)
    a("--adam_beta2", type=float, default=0.999)
    a("--adam_epsilon", type=float, default=1e-8)
    a("--max_grad_norm", type=float, default=1.0, help="clip by global norm; 0 = no clipping")
    a("--max_seq_length", "--max_length", dest="max_seq_length", type=int, default=1024,
      help="tokens per sample, BOS and EOS included (TRL's SFTConfig; --max_length since TRL 0.16)")
    a("--completion_only_loss", type=str2bool, nargs="?", const=True, default=False,
      help="prompt/completion and messages records: loss on the completion only")
    a("--metric_for_best_model", default=None)
    a("--greater_is_better", type=str2bool, nargs="?", const=True, default=None)
    a("--val_batches", type=int, default=-1,
      help="periodic evaluations score the first N length-sorted batches (lorafarm's val_batches); -1 = all")
    a("--use_peft", type=str2bool, nargs="?", const=True, default=False)
    a("--lora_r", type=int, default=16)
    a("--lora_alpha", type=float, default=32)
    a("--lora_dropout", type=float, default=0.05)
    a("--lora_target_modules", nargs="+", default=None,
      help="module names (space- or comma-separated) or all-linear; default q_proj v_proj (PEFT's for Llama)")
    args = p.parse_args(argv)
    check_args(p, args)
    return args


def check_args(parser, args):
    if not args.use_peft:
        parser.error("this example trains LoRA adapters only: pass --use_peft")
    positive = ["per_device_train_batch_size", "gradient_accumulation_steps", "logging_steps", "save_steps",
                "lora_r", "max_seq_length"]
    for name in positive:
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.eval_steps is None:
        args.eval_steps = args.logging_steps
    if args.eval_steps < 1:
        parser.error(f"--eval_steps must be at least 1, got {args.eval_steps}")
    if not 0 <= args.lora_dropout < 1:
        parser.error(f"--lora_dropout must be in [0, 1), got {args.lora_dropout}")
    if args.learning_rate < 0 or args.warmup_steps < 0 or args.weight_decay < 0:
        parser.error("--learning_rate, --warmup_steps and --weight_decay must not be negative")
    names = [n for item in (args.lora_target_modules or PEFT_DEFAULT_TARGETS) for n in item.split(",") if n]
    if names == ["all-linear"]:
        names = list(LINEAR_MODULES)
    unknown = [n for n in names if n not in LINEAR_MODULES]
    if unknown:
        parser.error(f"--lora_target_modules: unknown module(s) {', '.join(unknown)}; known: "
                     f"{', '.join(LINEAR_MODULES)} or all-linear")
    args.lora_target_modules = list(dict.fromkeys(names))
    if args.greater_is_better is None:
        args.greater_is_better = args.metric_for_best_model is not None and \
            not args.metric_for_best_model.endswith("loss")


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
        per_epoch = self.stream.batches_per_epoch() / args.gradient_accumulation_steps
        self.max_steps = args.max_steps if args.max_steps > 0 else math.ceil(args.num_train_epochs * per_epoch)
        self.state = TrainerState(self.max_steps, args.logging_steps, args.eval_steps, args.save_steps,
                                  args.per_device_train_batch_size, math.ceil(self.max_steps / max(per_epoch, 1e-9)))
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
        state.log(metrics)
        return {k: v for k, v in state["log_history"][-1].items() if k != "step"}

    def finish(self, train_metrics):
        """Whole-split validation, then the adapter, trainer_state.json and the *_results.json files."""
        a = self.args
        eval_metrics, samples = self.evaluate(-1)
        eval_metrics = dict(self.state["log_history"][-1])
        eval_metrics.pop("step")
        eval_metrics.update({"eval_samples": samples, "perplexity": math.exp(eval_metrics["eval_loss"])})
        self.checkpoint(a.output_dir, True)
        save_metrics(a.output_dir, "train", {**train_metrics, "train_samples": len(self.train_set)})
        save_metrics(a.output_dir, "eval", eval_metrics)


def main(argv=None):
    args = parse_args(argv)
    try:
        os.makedirs(args.output_dir, exist_ok=True)
        run = Run(args)
        run.finish(run.train())
    except (ModelError, SafetensorsError, TokenizerError, data_lib.DataError, FloatingPointError, OSError) as e:
        print(f"hf_lora_trainer: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
