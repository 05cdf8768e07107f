"""The newer families' fixtures (qwen3, smollm3, gemma3_text, gemma2) for
make_fixtures.py: tiny random models in float32, bfloat16 and float16, and a
float64 reference forward pass written from transformers' modeling code
(Qwen3Model, SmolLM3Model, Gemma3TextModel, Gemma2Model), independently of
lorafarm.

The reference reads no config.json: every effective value is spelled out in
each spec below, from the transformers config classes:
  Qwen3Config      rms_norm_eps 1e-6, head_dim 128, tie_word_embeddings False,
                   window as Qwen2 (use_sliding_window, max_window_layers)
  SmolLM3Config    rope_theta 2e6, tie_word_embeddings True; no_rope_layers[i]
                   = 1 rotates layer i; by default every no_rope_layer_interval-th
                   layer (4) does not rotate
  Gemma3TextConfig query_pre_attn_scalar 256, sliding_window 4096, every
                   sliding_window_pattern-th layer (6) global, rope_local_base_freq
                   10000 (default RoPE) on sliding layers, rope_theta 1e6 and
                   rope_scaling on global ones, no soft-capping, tied embeddings
  Gemma2Config     layers alternate sliding/global from a sliding layer 0,
                   attn_logit_softcapping 50, final_logit_softcapping 30
and the modeling code: Gemma's RMSNorm multiplies by (1 + w); Gemma's block is
x += norm(attn(norm(x))), x += norm(mlp(norm(x))); q/k norms act per head
before RoPE; embeddings are multiplied by √hidden in the weights' dtype;
scores are q·k·scale, soft-capped as c·tanh(s/c) before the mask.
"""
import math
import struct

# ---- weights in a dtype ----


def round_bf16(x):
    """float32 -> bfloat16 -> float, rounding to nearest even."""
    bits = struct.unpack("<I", struct.pack("<f", x))[0]
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return struct.unpack("<f", struct.pack("<I", bits))[0]


def round_f16(x):
    return struct.unpack("<e", struct.pack("<e", x))[0]


def round_f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


ROUND = {"F32": round_f32, "BF16": round_bf16, "F16": round_f16}
TORCH_DTYPE = {"F32": "float32", "BF16": "bfloat16", "F16": "float16"}


def pack(values, dtype):
    if dtype == "F32":
        return struct.pack(f"<{len(values)}f", *values)
    if dtype == "F16":
        return struct.pack(f"<{len(values)}e", *values)
    words = [struct.unpack("<I", struct.pack("<f", v))[0] >> 16 for v in values]
    return struct.pack(f"<{len(words)}H", *words)


class Weights:
    """Seeded N(mean, std) draws rounded to the dtype, kept by tensor name."""

    def __init__(self, rng, dtype):
        self.rng, self.round, self.tensors = rng, ROUND[dtype], {}

    def matrix(self, name, rows, cols, std):
        m = [[self.round(self.rng.gauss(0.0, std)) for _ in range(cols)] for _ in range(rows)]
        self.tensors[name] = m
        return m

    def vector(self, name, n, mean, std):
        v = [self.round(mean + self.rng.gauss(0.0, std)) for _ in range(n)]
        self.tensors[name] = v
        return v


def write_safetensors(path, tensors, dtype):
    import json
    header, data = {"__metadata__": {"format": "pt"}}, bytearray()
    for name in sorted(tensors):
        t = tensors[name]
        rows = t if isinstance(t[0], list) else [t]
        flat = [x for row in rows for x in row]
        shape = [len(t), len(t[0])] if isinstance(t[0], list) else [len(t)]
        begin = len(data)
        data += pack(flat, dtype)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [begin, len(data)]}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        f.write(data)


# ---- the reference forward pass (one sequence, float64) ----

def matvec(w, x):
    return [sum(a * b for a, b in zip(row, x)) for row in w]


def rms_norm(x, weight, eps, plus_one):
    scale = 1.0 / math.sqrt(sum(v * v for v in x) / len(x) + eps)
    return [((1.0 + w) if plus_one else w) * v * scale for w, v in zip(weight, x)]


def head_norm(vec, heads, d, weight, eps, plus_one):
    out = []
    for h in range(heads):
        out += rms_norm(vec[h * d:(h + 1) * d], weight, eps, plus_one)
    return out


def inv_frequencies(head_dim, theta, scaling):
    """transformers' default inv_freq, then the linear or llama3 rule."""
    freqs = [theta ** (-(2 * i) / head_dim) for i in range(head_dim // 2)]
    if scaling is None:
        return freqs
    factor = scaling["factor"]
    if scaling["type"] == "linear":
        return [f / factor for f in freqs]
    original = scaling["original_max_position_embeddings"]
    low, high = scaling["low_freq_factor"], scaling["high_freq_factor"]
    out = []
    for f in freqs:
        wavelength = 2 * math.pi / f
        if wavelength < original / high:
            out.append(f)
        elif wavelength > original / low:
            out.append(f / factor)
        else:
            smooth = (original / wavelength - low) / (high - low)
            out.append((1 - smooth) * f / factor + smooth * f)
    return out


def rotate(vec, heads, d, position, freqs):
    out = list(vec)
    half = d // 2
    for h in range(heads):
        for i in range(half):
            c, s = math.cos(position * freqs[i]), math.sin(position * freqs[i])
            a, b = vec[h * d + i], vec[h * d + i + half]
            out[h * d + i] = a * c - b * s
            out[h * d + i + half] = b * c + a * s
    return out


def attention(qs, ks, vs, spec, window):
    heads, kv_heads, d = spec["heads"], spec["kv_heads"], spec["head_dim"]
    scale, cap = spec["attn_scale"], spec["attn_cap"]
    group = heads // kv_heads
    out = []
    for i, q in enumerate(qs):
        row = []
        visible = [j for j in range(i + 1) if window == 0 or j > i - window]
        for h in range(heads):
            kh = h // group
            qh = q[h * d:(h + 1) * d]
            scores = [sum(a * b for a, b in zip(qh, ks[j][kh * d:(kh + 1) * d])) * scale for j in visible]
            if cap:
                scores = [cap * math.tanh(s / cap) for s in scores]
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


def silu(z):
    return z / (1.0 + math.exp(-z))


def gelu_tanh(z):
    return 0.5 * z * (1.0 + math.tanh(math.sqrt(2.0 / math.pi) * (z + 0.044715 * z ** 3)))


def layer_qkv(spec, layer, normed, position, freqs):
    heads, kv_heads, d, eps, plus = spec["heads"], spec["kv_heads"], spec["head_dim"], spec["eps"], spec["plus_one"]
    q, k, v = matvec(layer["q"], normed), matvec(layer["k"], normed), matvec(layer["v"], normed)
    if spec["qk_norm"]:
        q = head_norm(q, heads, d, layer["q_norm"], eps, plus)
        k = head_norm(k, kv_heads, d, layer["k_norm"], eps, plus)
    if freqs is not None:
        q, k = rotate(q, heads, d, position, freqs), rotate(k, kv_heads, d, position, freqs)
    return q, k, v


def forward(spec, layers, embed, final_norm, head, tokens):
    eps, plus, sandwich = spec["eps"], spec["plus_one"], spec["sandwich"]
    act = gelu_tanh if spec["gelu"] else silu
    global_freqs = inv_frequencies(spec["head_dim"], spec["theta"], spec["scaling"])
    local_freqs = inv_frequencies(spec["head_dim"], spec["local_theta"], None) if spec["local_theta"] else None
    xs = [[v * spec["embed_scale"] for v in embed[t]] for t in tokens]
    for i, layer in enumerate(layers):
        window = spec["windows"][i]
        freqs = None if not spec["rope"][i] else (local_freqs if window and local_freqs else global_freqs)
        normed = [rms_norm(x, layer["input_norm"], eps, plus) for x in xs]
        qkv = [layer_qkv(spec, layer, n, p, freqs) for p, n in enumerate(normed)]
        attended = attention([t[0] for t in qkv], [t[1] for t in qkv], [t[2] for t in qkv], spec, window)
        for t, o in enumerate(attended):
            out = matvec(layer["o"], o)
            if sandwich:
                out = rms_norm(out, layer["attn_out_norm"], eps, plus)
            xs[t] = [a + b for a, b in zip(xs[t], out)]
        for t, x in enumerate(xs):
            n = rms_norm(x, layer["mlp_norm"], eps, plus)
            a = [act(g) * u for g, u in zip(matvec(layer["gate"], n), matvec(layer["up"], n))]
            out = matvec(layer["down"], a)
            if sandwich:
                out = rms_norm(out, layer["mlp_out_norm"], eps, plus)
            xs[t] = [p + q for p, q in zip(x, out)]
    logits = [matvec(head, rms_norm(x, final_norm, eps, plus)) for x in xs]
    cap = spec["final_cap"]
    return [[cap * math.tanh(v / cap) for v in row] for row in logits] if cap else logits


# ---- the weights and configs ----

def make_weights(spec, rng, dtype):
    w = Weights(rng, dtype)
    hidden, inter, d = spec["hidden"], spec["intermediate"], spec["head_dim"]
    gemma = spec["sandwich"]
    norm_mean = 0.0 if spec["plus_one"] else 1.0
    embed = w.matrix("model.embed_tokens.weight", spec["vocab"], hidden, spec["embed_std"])
    layers = []
    for i in range(spec["layers"]):
        p = f"model.layers.{i}."
        layer = {"input_norm": w.vector(p + "input_layernorm.weight", hidden, norm_mean, 0.1)}
        mlp_norm_name = "pre_feedforward_layernorm" if gemma else "post_attention_layernorm"
        layer["mlp_norm"] = w.vector(p + mlp_norm_name + ".weight", hidden, norm_mean, 0.1)
        if gemma:
            layer["attn_out_norm"] = w.vector(p + "post_attention_layernorm.weight", hidden, norm_mean, 0.1)
            layer["mlp_out_norm"] = w.vector(p + "post_feedforward_layernorm.weight", hidden, norm_mean, 0.1)
        for name, rows in (("q", spec["heads"] * d), ("k", spec["kv_heads"] * d), ("v", spec["kv_heads"] * d)):
            layer[name] = w.matrix(p + f"self_attn.{name}_proj.weight", rows, hidden, 0.3)
        if spec["qk_norm"]:
            layer["q_norm"] = w.vector(p + "self_attn.q_norm.weight", d, norm_mean, 0.3)
            layer["k_norm"] = w.vector(p + "self_attn.k_norm.weight", d, norm_mean, 0.3)
        layer["o"] = w.matrix(p + "self_attn.o_proj.weight", hidden, spec["heads"] * d, 0.3)
        layer["gate"] = w.matrix(p + "mlp.gate_proj.weight", inter, hidden, 0.3)
        layer["up"] = w.matrix(p + "mlp.up_proj.weight", inter, hidden, 0.3)
        layer["down"] = w.matrix(p + "mlp.down_proj.weight", hidden, inter, 0.3)
        layers.append(layer)
    final_norm = w.vector("model.norm.weight", hidden, norm_mean, 0.1)
    head = embed if spec["tied"] else w.matrix("lm_head.weight", spec["vocab"], hidden, 0.3)
    return w.tensors, layers, embed, final_norm, head


BASE = dict(hidden=16, intermediate=24, layers=3, heads=4, kv_heads=2, head_dim=6, vocab=24, eps=1e-6,
            embed_std=0.3, plus_one=False, sandwich=False, gelu=False, qk_norm=False, attn_cap=0.0,
            final_cap=0.0, local_theta=0.0, embed_scale=1.0, scaling=None)


def config_fields(spec, family):
    c = {"model_type": family, "hidden_size": spec["hidden"], "intermediate_size": spec["intermediate"],
         "num_hidden_layers": spec["layers"], "num_attention_heads": spec["heads"],
         "num_key_value_heads": spec["kv_heads"], "head_dim": spec["head_dim"], "vocab_size": spec["vocab"],
         "max_position_embeddings": 64}
    return c


def gemma_scale(hidden, dtype):
    """√hidden as transformers multiplies it: a tensor of the weights' dtype."""
    return ROUND[dtype](math.sqrt(hidden))


# Qwen3: q/k norms, untied head (the default), GQA, linear RoPE scaling; layer 2 slides.
QWEN3 = dict(BASE, qk_norm=True, tied=False, theta=1000.0, scaling={"type": "linear", "factor": 2.0},
             windows=[0, 0, 3], rope=[1, 1, 1], attn_scale=1 / math.sqrt(6))
QWEN3_CONFIG = {"hidden_act": "silu", "rope_theta": 1000.0, "rope_scaling": {"rope_type": "linear", "factor": 2.0},
                "use_sliding_window": True, "sliding_window": 3, "max_window_layers": 2}

# SmolLM3: no_rope_layer_interval 2 -> layer 1 has no RoPE; tied (the default); rope_theta default 2e6.
SMOLLM3 = dict(BASE, tied=True, theta=2000000.0, windows=[0, 0, 0], rope=[1, 0, 1], attn_scale=1 / math.sqrt(6))
SMOLLM3_CONFIG = {"hidden_act": "silu", "no_rope_layer_interval": 2}

# Gemma 3: hidden 20 so √hidden is not exact in bf16/fp16; pattern 3 -> layers 0, 1 slide, 2 is global;
# query_pre_attn_scalar 10; local base 100, global base 5000 with linear scaling; tied (the default).
GEMMA3 = dict(BASE, hidden=20, plus_one=True, sandwich=True, gelu=True, qk_norm=True, tied=True,
              theta=5000.0, scaling={"type": "linear", "factor": 4.0}, local_theta=100.0,
              windows=[3, 3, 0], rope=[1, 1, 1], attn_scale=10 ** -0.5)
GEMMA3_CONFIG = {"hidden_activation": "gelu_pytorch_tanh", "query_pre_attn_scalar": 10, "sliding_window": 3,
                 "sliding_window_pattern": 3, "rope_local_base_freq": 100.0, "rope_theta": 5000.0,
                 "rope_scaling": {"rope_type": "linear", "factor": 4.0}}

# Gemma 2: soft-capping at 5 (attention) and 2 (final) so it bites; layers alternate from sliding;
# untied head; explicit layer_types.
GEMMA2 = dict(BASE, hidden=20, plus_one=True, sandwich=True, gelu=True, tied=False, theta=10000.0,
              attn_cap=5.0, final_cap=2.0, windows=[3, 0, 3], rope=[1, 1, 1], attn_scale=8 ** -0.5)
GEMMA2_CONFIG = {"hidden_activation": "gelu_pytorch_tanh", "query_pre_attn_scalar": 8, "sliding_window": 3,
                 "attn_logit_softcapping": 5.0, "final_logit_softcapping": 2.0, "tie_word_embeddings": False,
                 "layer_types": ["sliding_attention", "full_attention", "sliding_attention"]}

FAMILIES = {"qwen3": (11, QWEN3, QWEN3_CONFIG), "smollm3": (12, SMOLLM3, SMOLLM3_CONFIG),
            "gemma3_text": (13, GEMMA3, GEMMA3_CONFIG), "gemma2": (14, GEMMA2, GEMMA2_CONFIG)}


def family_fixtures():
    """name -> (seed, spec, config.json, dtype): each family in each dtype."""
    out = {}
    for family, (seed, spec, extra) in FAMILIES.items():
        for dtype in ("F32", "BF16", "F16"):
            s = dict(spec)
            if spec["sandwich"]:
                s["embed_scale"] = gemma_scale(spec["hidden"], dtype)
            config = {**config_fields(s, family), **extra, "torch_dtype": TORCH_DTYPE[dtype]}
            out[f"{family}_{dtype.lower()}"] = (seed, s, config, dtype)
    return out
