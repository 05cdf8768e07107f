#!/usr/bin/env python3
"""Tiny random models whose config.json relies on transformers' config
semantics, with their logits from a float64 reference forward pass written
here from transformers' modeling code (LlamaModel, MistralModel, Qwen2Model,
Phi3Model), independently of lorafarm. Plain Python, no numpy.

Each folder holds config.json, model.safetensors (float32) and golden.json:
{"cases": [{"tokens": [...], "logits": [[vocab floats] per position]}]}.
tests/engine/forward_test.cpp checks lorafarm's forward against them.

What each config leaves to the family's defaults or spells in a special way
is listed in FIXTURES. The reference does not read config.json: every
effective value (eps, window per layer, RoPE base and scaling) is written out
below, from the transformers config classes:
  LlamaConfig   rms_norm_eps 1e-6, no sliding window, tie_word_embeddings False
  MistralConfig rms_norm_eps 1e-6, sliding_window 4096, num_key_value_heads 8
  Qwen2Config   rms_norm_eps 1e-6; the window applies only if use_sliding_window,
                to layers i >= max_window_layers
  Phi3Config    rms_norm_eps 1e-5, sliding_window None
and masking_utils' sliding window: query i sees key j iff i - window < j <= i.

The newer families (qwen3, smollm3, gemma3_text, gemma2), each in float32,
bfloat16 and float16, come from family_fixtures.py with their own reference.

Run from anywhere: python3 tests/engine/config_semantics/make_fixtures.py
"""
import json
import math
import os
import random
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import family_fixtures  # noqa: E402
from family_fixtures import inv_frequencies, rotate, silu  # noqa: E402  (one copy of the shared reference ops)

HERE = os.path.dirname(os.path.abspath(__file__))
SEQUENCE_LENGTH = 8


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


class Weights:
    """Seeded N(mean, std) draws rounded to float32, kept by tensor name."""

    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.tensors = {}

    def matrix(self, name, rows, cols, std):
        m = [[f32(self.rng.gauss(0.0, std)) for _ in range(cols)] for _ in range(rows)]
        self.tensors[name] = m
        return m

    def vector(self, name, n, mean, std):
        v = [f32(mean + self.rng.gauss(0.0, std)) for _ in range(n)]
        self.tensors[name] = v
        return v


def write_safetensors(path, tensors):
    header, data = {"__metadata__": {"format": "pt"}}, bytearray()
    for name in sorted(tensors):
        t = tensors[name]
        rows = t if isinstance(t[0], list) else [t]
        flat = [x for row in rows for x in row]
        shape = [len(t), len(t[0])] if isinstance(t[0], list) else [len(t)]
        begin = len(data)
        data += struct.pack(f"<{len(flat)}f", *flat)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [begin, len(data)]}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        f.write(data)


# ---- the reference forward pass (one sequence, float64) ----

def matvec(w, x, bias=None):
    y = [sum(a * b for a, b in zip(row, x)) for row in w]
    return [a + b for a, b in zip(y, bias)] if bias else y


def rms_norm(x, weight, eps):
    scale = 1.0 / math.sqrt(sum(v * v for v in x) / len(x) + eps)
    return [w * v * scale for w, v in zip(weight, x)]


def attention(qs, ks, vs, spec, window):
    heads, kv_heads, d = spec["heads"], spec["kv_heads"], spec["head_dim"]
    group = heads // kv_heads
    out = []
    for i, q in enumerate(qs):
        row = []
        visible = [j for j in range(i + 1) if window == 0 or j > i - window]
        for h in range(heads):
            kh = h // group
            qh = q[h * d:(h + 1) * d]
            scores = [sum(a * b for a, b in zip(qh, ks[j][kh * d:(kh + 1) * d])) / math.sqrt(d) for j in visible]
            m = max(scores)
            exps = [math.exp(s - m) for s in scores]
            total = sum(exps)
            head_out = [0.0] * d
            for p, j in zip(exps, visible):
                for e in range(d):
                    head_out[e] += p / total * vs[j][kh * d + e]
            row += head_out
        out.append(row)
    return out


def forward(spec, layers, embed, final_norm, head, tokens):
    freqs = inv_frequencies(spec["head_dim"], spec["theta"], spec["scaling"])
    xs = [list(embed[t]) for t in tokens]
    for layer, window in zip(layers, spec["windows"]):
        normed = [rms_norm(x, layer["input_norm"], spec["eps"]) for x in xs]
        qs = [rotate(matvec(layer["q"], n, layer.get("q_bias")), spec["heads"], spec["head_dim"], p, freqs)
              for p, n in enumerate(normed)]
        ks = [rotate(matvec(layer["k"], n, layer.get("k_bias")), spec["kv_heads"], spec["head_dim"], p, freqs)
              for p, n in enumerate(normed)]
        vs = [matvec(layer["v"], n, layer.get("v_bias")) for n in normed]
        attended = attention(qs, ks, vs, spec, window)
        xs = [[a + b for a, b in zip(x, matvec(layer["o"], o))] for x, o in zip(xs, attended)]
        for t, x in enumerate(xs):
            n = rms_norm(x, layer["post_norm"], spec["eps"])
            act = [silu(g) * u for g, u in zip(matvec(layer["gate"], n), matvec(layer["up"], n))]
            xs[t] = [a + b for a, b in zip(x, matvec(layer["down"], act))]
    return [matvec(head, rms_norm(x, final_norm, spec["eps"])) for x in xs]


# ---- the fixtures ----

def make_weights(spec, seed):
    """The model's tensors under transformers' names, and the per-layer view."""
    w = Weights(seed)
    hidden, inter, d = spec["hidden"], spec["intermediate"], spec["head_dim"]
    q_out, kv_out = spec["heads"] * d, spec["kv_heads"] * d
    fused = spec["family"] == "phi3"
    embed = w.matrix("model.embed_tokens.weight", spec["vocab"], hidden, spec["embed_std"])
    layers = []
    for i in range(spec["layers"]):
        p = f"model.layers.{i}."
        layer = {"input_norm": w.vector(p + "input_layernorm.weight", hidden, 1.0, 0.1),
                 "post_norm": w.vector(p + "post_attention_layernorm.weight", hidden, 1.0, 0.1)}
        if fused:
            qkv = w.matrix(p + "self_attn.qkv_proj.weight", q_out + 2 * kv_out, hidden, 0.3)
            layer.update(q=qkv[:q_out], k=qkv[q_out:q_out + kv_out], v=qkv[q_out + kv_out:])
        else:
            for name, rows in (("q", q_out), ("k", kv_out), ("v", kv_out)):
                layer[name] = w.matrix(p + f"self_attn.{name}_proj.weight", rows, hidden, 0.3)
                if spec["family"] == "qwen2":
                    layer[name + "_bias"] = w.vector(p + f"self_attn.{name}_proj.bias", rows, 0.0, 0.3)
        layer["o"] = w.matrix(p + "self_attn.o_proj.weight", hidden, q_out, 0.3)
        if fused:
            gate_up = w.matrix(p + "mlp.gate_up_proj.weight", 2 * inter, hidden, 0.3)
            layer.update(gate=gate_up[:inter], up=gate_up[inter:])
        else:
            layer["gate"] = w.matrix(p + "mlp.gate_proj.weight", inter, hidden, 0.3)
            layer["up"] = w.matrix(p + "mlp.up_proj.weight", inter, hidden, 0.3)
        layer["down"] = w.matrix(p + "mlp.down_proj.weight", hidden, inter, 0.3)
        layers.append(layer)
    final_norm = w.vector("model.norm.weight", hidden, 1.0, 0.1)
    head = embed if spec["tied"] else w.matrix("lm_head.weight", spec["vocab"], hidden, 0.3)
    return w.tensors, layers, embed, final_norm, head


def base_config(spec):
    c = {"model_type": spec["family"], "hidden_size": spec["hidden"], "intermediate_size": spec["intermediate"],
         "num_hidden_layers": spec["layers"], "num_attention_heads": spec["heads"], "vocab_size": spec["vocab"],
         "max_position_embeddings": 64, "hidden_act": "silu", "torch_dtype": "float32"}
    return c


LLAMA3_ROPE = {"factor": 4.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8}
QWEN2 = dict(family="qwen2", hidden=16, intermediate=24, layers=3, heads=4, kv_heads=2, head_dim=6, vocab=24,
             tied=False, embed_std=0.005, eps=1e-6, theta=500.0, scaling={"type": "linear", "factor": 2.0})

# name -> (seed, effective values for the reference, config.json fields beyond base_config)
FIXTURES = {
    # Phi-3 masks every layer with sliding_window; eps, tying and rope base are the defaults.
    "phi3_sliding_window": (1, dict(family="phi3", hidden=16, intermediate=24, layers=2, heads=4, kv_heads=2,
                                    head_dim=4, vocab=24, tied=False, embed_std=0.005, eps=1e-5, theta=10000.0,
                                    scaling=None, windows=[3, 3]),
                            {"num_key_value_heads": 2, "sliding_window": 3}),
    # Qwen2 masks only layers >= max_window_layers, with use_sliding_window; head_dim 6 != 16/4;
    # RoPE in transformers 5's rope_parameters.
    "qwen2_sliding_layers": (2, dict(QWEN2, windows=[0, 3, 3]),
                             {"num_key_value_heads": 2, "head_dim": 6, "use_sliding_window": True,
                              "sliding_window": 3, "max_window_layers": 1,
                              "rope_parameters": {"rope_type": "linear", "factor": 2.0, "rope_theta": 500.0}}),
    # The same weights with use_sliding_window false: no layer slides. RoPE in the older spelling.
    "qwen2_window_unused": (2, dict(QWEN2, windows=[0, 0, 0]),
                            {"num_key_value_heads": 2, "head_dim": 6, "use_sliding_window": False,
                             "sliding_window": 3, "max_window_layers": 1, "rope_theta": 500.0,
                             "rope_scaling": {"type": "linear", "factor": 2.0}}),
    # Mistral: every layer slides; num_key_value_heads absent means 8; llama3 rope_scaling.
    "mistral_llama3_rope": (3, dict(family="mistral", hidden=16, intermediate=24, layers=2, heads=8, kv_heads=8,
                                    head_dim=4, vocab=24, tied=False, embed_std=0.005, eps=1e-6, theta=10000.0,
                                    scaling=dict(LLAMA3_ROPE, type="llama3"), windows=[4, 4]),
                            {"head_dim": 4, "sliding_window": 4, "rope_theta": 10000.0,
                             "rope_scaling": dict(LLAMA3_ROPE, rope_type="llama3")}),
    # Llama ignores sliding_window (LlamaConfig has none); tied head; head_dim 12 != 16/2;
    # llama3 RoPE with its base inside rope_parameters.
    "llama_tied_rope_parameters": (4, dict(family="llama", hidden=16, intermediate=24, layers=2, heads=2, kv_heads=1,
                                           head_dim=12, vocab=24, tied=True, embed_std=0.3, eps=1e-6, theta=20000.0,
                                           scaling=dict(LLAMA3_ROPE, type="llama3"), windows=[0, 0]),
                                   {"num_key_value_heads": 1, "head_dim": 12, "tie_word_embeddings": True,
                                    "sliding_window": 2,
                                    "rope_parameters": dict(LLAMA3_ROPE, rope_type="llama3", rope_theta=20000.0)}),
}


def write_fixture(name, forward_pass, seed, tensors, config, model_args, vocab):
    folder = os.path.join(HERE, name)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    rng = random.Random(100 + seed)
    cases = []
    for _ in range(2):
        tokens = [rng.randrange(vocab) for _ in range(SEQUENCE_LENGTH)]
        cases.append({"tokens": tokens, "logits": forward_pass(*model_args, tokens)})
    with open(os.path.join(folder, "golden.json"), "w") as f:
        json.dump({"made_by": "tests/engine/config_semantics/make_fixtures.py", "cases": cases}, f)
        f.write("\n")
    print(name, "written")


def main_families():
    for name, (seed, spec, config, dtype) in family_fixtures.family_fixtures().items():
        tensors, layers, embed, final_norm, head = family_fixtures.make_weights(spec, random.Random(seed), dtype)
        os.makedirs(os.path.join(HERE, name), exist_ok=True)
        family_fixtures.write_safetensors(os.path.join(HERE, name, "model.safetensors"), tensors, dtype)
        write_fixture(name, family_fixtures.forward, seed, tensors, config,
                      (spec, layers, embed, final_norm, head), spec["vocab"])


def main():
    main_families()
    for name, (seed, spec, extra) in FIXTURES.items():
        folder = os.path.join(HERE, name)
        os.makedirs(folder, exist_ok=True)
        tensors, layers, embed, final_norm, head = make_weights(spec, seed)
        write_safetensors(os.path.join(folder, "model.safetensors"), tensors)
        with open(os.path.join(folder, "config.json"), "w") as f:
            json.dump({**base_config(spec), **extra}, f, indent=2)
            f.write("\n")
        rng = random.Random(100 + seed)
        cases = []
        for _ in range(2):
            tokens = [rng.randrange(spec["vocab"]) for _ in range(SEQUENCE_LENGTH)]
            cases.append({"tokens": tokens, "logits": forward(spec, layers, embed, final_norm, head, tokens)})
        with open(os.path.join(folder, "golden.json"), "w") as f:
            json.dump({"made_by": "tests/engine/config_semantics/make_fixtures.py", "cases": cases}, f)
            f.write("\n")
        print(name, "written")


if __name__ == "__main__":
    main()
