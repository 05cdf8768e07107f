"""The linear modules of a Llama block that LoRA can target, and how the
`--lora_target_modules` values name them (torch-free, so that the command
line is checked before torch loads)."""

# module name -> the block's sub-module that holds it (the HF parameter path)
LINEAR_MODULES = {
    "q_proj": "self_attn", "k_proj": "self_attn", "v_proj": "self_attn", "o_proj": "self_attn",
    "gate_proj": "mlp", "up_proj": "mlp", "down_proj": "mlp",
}
PEFT_DEFAULT_TARGETS = ["q_proj", "v_proj"]  # PEFT's default target modules for model_type llama


def resolve_targets(values):
    """(module names, unknown names) of space- or comma-separated values; None = PEFT's default;
    "all-linear" = all seven (PEFT's shorthand: every linear but the output head)."""
    names = [n for item in (values or PEFT_DEFAULT_TARGETS) for n in item.split(",") if n]
    if names == ["all-linear"]:
        names = list(LINEAR_MODULES)
    unknown = [n for n in names if n not in LINEAR_MODULES]
    return list(dict.fromkeys(names)), unknown
