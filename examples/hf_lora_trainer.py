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

Model, tokenizer, data and the training run: examples/torchtrainer/ (no code
of transformers, PEFT, TRL or sentencepiece is used or copied). The command
line is checked before torch loads, so a wrong flag fails at once.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torchtrainer.lora_targets import LINEAR_MODULES, resolve_targets  # noqa: E402


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
    args.lora_target_modules, unknown = resolve_targets(args.lora_target_modules)
    if unknown:
        parser.error(f"--lora_target_modules: unknown module(s) {', '.join(unknown)}; known: "
                     f"{', '.join(LINEAR_MODULES)} or all-linear")
    if args.greater_is_better is None:
        args.greater_is_better = args.metric_for_best_model is not None and \
            not args.metric_for_best_model.endswith("loss")


def main(argv=None):
    args = parse_args(argv)
    # The example's matrices are tiny: an OpenBLAS thread pool per product
    # costs more than it saves (30 steps of the quick-start run: 2.8 s of
    # system time with the default pool, 0.9 s with one thread). Set the
    # variable to override.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from torchtrainer.data import DataError
    from torchtrainer.llama import ModelError
    from torchtrainer.run import Run
    from torchtrainer.safetensors_io import SafetensorsError
    from torchtrainer.sp_tokenizer import TokenizerError
    try:
        os.makedirs(args.output_dir, exist_ok=True)
        run = Run(args)
        run.finish(run.train())
    except (ModelError, SafetensorsError, TokenizerError, DataError, FloatingPointError, OSError) as e:
        print(f"hf_lora_trainer: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
