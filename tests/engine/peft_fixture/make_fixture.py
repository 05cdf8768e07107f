#!/usr/bin/env python3
"""Writes a tiny LoRA adapter in PEFT's documented layout, without lorafarm.

The folder `tiny_lora/` holds what PEFT's `save_pretrained` writes for a
LoRA on a Llama model:
  adapter_config.json        LoraConfig fields (peft_type "LORA", r, lora_alpha, ...)
  adapter_model.safetensors  base_model.model.model.layers.{i}.{self_attn|mlp}.{module}
                             .lora_A.weight [r, in] and .lora_B.weight [out, r]
The base model is lorafarm's "tiny" preset shape (hidden 32, intermediate 64,
4 heads of 8, 2 KV heads, 2 layers): q_proj 32 -> 32, v_proj 32 -> 16,
down_proj 64 -> 32. The values follow the formulas below (multiples of 1/16
and 1/8, exact in float32), which tests/engine/peft_layout_test.cpp repeats to
compute the adapter's effect by hand.

safetensors, written by hand (the format is: an 8-byte little-endian header
length, a JSON header mapping each tensor name to its dtype, shape and
[begin, end) byte offsets into the data that follows, then the raw data).

Run from anywhere: python3 tests/engine/peft_fixture/make_fixture.py
"""
import json
import os
import struct

RANK = 2
ALPHA = 8
LAYERS = 2
# (module, parent, in_features, out_features), module index = position here
MODULES = [("q_proj", "self_attn", 32, 32), ("v_proj", "self_attn", 32, 16), ("down_proj", "mlp", 64, 32)]


def a_value(layer, module, k, i):
    return ((3 * k + 5 * i + 7 * layer + 11 * module) % 13 - 6) / 16.0


def b_value(layer, module, o, k):
    return ((5 * o + 3 * k + 2 * layer + 7 * module) % 9 - 4) / 8.0


def tensors():
    out = {}
    for layer in range(LAYERS):
        for m, (name, parent, fan_in, fan_out) in enumerate(MODULES):
            prefix = f"base_model.model.model.layers.{layer}.{parent}.{name}"
            a = [a_value(layer, m, k, i) for k in range(RANK) for i in range(fan_in)]
            b = [b_value(layer, m, o, k) for o in range(fan_out) for k in range(RANK)]
            out[prefix + ".lora_A.weight"] = ([RANK, fan_in], a)
            out[prefix + ".lora_B.weight"] = ([fan_out, RANK], b)
    return out


def write_safetensors(path, named):
    header = {"__metadata__": {"format": "pt"}}
    data = bytearray()
    for name in sorted(named):
        shape, values = named[name]
        begin = len(data)
        data += struct.pack(f"<{len(values)}f", *values)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [begin, len(data)]}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        f.write(data)


def config():
    return {
        "base_model_name_or_path": "tiny-llama",
        "bias": "none",
        "fan_in_fan_out": False,
        "inference_mode": True,
        "init_lora_weights": True,
        "layers_pattern": None,
        "layers_to_transform": None,
        "lora_alpha": ALPHA,
        "lora_dropout": 0.0,
        "modules_to_save": None,
        "peft_type": "LORA",
        "r": RANK,
        "revision": None,
        "target_modules": [name for name, _, _, _ in MODULES],
        "task_type": "CAUSAL_LM",
        "use_dora": False,
        "use_rslora": False,
    }


def main():
    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tiny_lora")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "adapter_config.json"), "w") as f:
        json.dump(config(), f, indent=2, sort_keys=True)
        f.write("\n")
    write_safetensors(os.path.join(folder, "adapter_model.safetensors"), tensors())


if __name__ == "__main__":
    main()
