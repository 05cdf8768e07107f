"""A LoRA adapter in the layout PEFT's `save_pretrained` writes:
adapter_config.json (LoraConfig's fields) and adapter_model.safetensors with
`base_model.model.model.layers.N.{self_attn|mlp}.MODULE.lora_A.weight` [r, in]
and `.lora_B.weight` [out, r]."""
import json
import os

from .safetensors_io import write_safetensors


def save_adapter(folder, model, base_model, rank, alpha, dropout, targets):
    os.makedirs(folder, exist_ok=True)
    alpha = int(alpha) if float(alpha).is_integer() else alpha  # LoraConfig.lora_alpha is an int
    config = {
        "alpha_pattern": {}, "base_model_name_or_path": os.path.abspath(base_model), "bias": "none",
        "fan_in_fan_out": False, "inference_mode": True, "init_lora_weights": True, "layers_pattern": None,
        "layers_to_transform": None, "lora_alpha": alpha, "lora_dropout": dropout, "modules_to_save": None,
        "peft_type": "LORA", "r": rank, "rank_pattern": {}, "revision": None, "target_modules": sorted(targets),
        "task_type": "CAUSAL_LM", "use_dora": False, "use_rslora": False,
    }
    with open(os.path.join(folder, "adapter_config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    write_safetensors(os.path.join(folder, "adapter_model.safetensors"), model.lora_state(), {"format": "pt"})
