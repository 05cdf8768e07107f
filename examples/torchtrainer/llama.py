"""A Llama decoder in torch, as Hugging Face transformers' LlamaForCausalLM
computes it, with LoRA on chosen linears as PEFT adds it.

- RMSNorm: x / sqrt(mean(x²) + eps) · w.
- RoPE on halves (transformers' rotate_half): inv_freq_i = θ^(-2i/d),
  angle = position · inv_freq, (x1, x2) -> (x1 cos − x2 sin, x2 cos + x1 sin).
- Grouped-query attention: kv head j serves query heads j·g .. j·g+g−1.
- SwiGLU MLP: down(silu(gate(x)) ⊙ up(x)); tied or untied output head.
- LoRA (PEFT's LoraLayer): y = W x + b + (α/r) · B A dropout(x), A [r, in]
  kaiming-uniform with a = √5 (uniform in ±1/√in), B [out, r] zero.
"""
import json
import math
import os

import torch
import torch.nn.functional as F

from .lora_targets import LINEAR_MODULES
from .safetensors_io import read_safetensors

class ModelError(ValueError):
    pass


class LoraLinear(torch.nn.Module):
    """A frozen linear (weight [out, in], optional bias) with an optional LoRA branch."""

    def __init__(self, weight, bias):
        super().__init__()
        self.weight = torch.nn.Parameter(weight, requires_grad=False)
        self.bias = None if bias is None else torch.nn.Parameter(bias, requires_grad=False)
        self.lora_A = self.lora_B = None

    def add_lora(self, rank, alpha, dropout):
        out_features, in_features = self.weight.shape
        a = torch.empty(rank, in_features)
        torch.nn.init.kaiming_uniform_(a, a=math.sqrt(5))
        self.lora_A = torch.nn.Parameter(a)
        self.lora_B = torch.nn.Parameter(torch.zeros(out_features, rank))
        self.scaling = alpha / rank
        self.dropout = torch.nn.Dropout(dropout) if dropout > 0 else torch.nn.Identity()

    def forward(self, x):
        y = F.linear(x, self.weight, self.bias)
        if self.lora_A is None:
            return y
        return y + F.linear(F.linear(self.dropout(x), self.lora_A), self.lora_B) * self.scaling


class Config:
    def __init__(self, folder):
        path = os.path.join(folder, "config.json")
        if not os.path.exists(path):
            raise ModelError(f"{folder}: no config.json (not a Hugging Face model folder)")
        with open(path) as f:
            c = json.load(f)
        if c.get("model_type") != "llama":
            raise ModelError(f"{path}: model_type {c.get('model_type')!r} is not llama")
        if c.get("rope_scaling"):
            raise ModelError(f"{path}: rope_scaling {c['rope_scaling']} is not supported")
        self.hidden = c["hidden_size"]
        self.layers = c["num_hidden_layers"]
        self.heads = c["num_attention_heads"]
        self.kv_heads = c.get("num_key_value_heads") or self.heads
        self.head_dim = c.get("head_dim") or self.hidden // self.heads
        self.vocab = c["vocab_size"]
        self.eps = c.get("rms_norm_eps", 1e-6)
        self.theta = c.get("rope_theta", 10000.0)
        self.tied = c.get("tie_word_embeddings", False)
        self.max_positions = c.get("max_position_embeddings", 2048)
        if c.get("hidden_act", "silu") != "silu":
            raise ModelError(f"{path}: hidden_act {c['hidden_act']!r} is not silu")


def rms_norm(x, weight, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Llama(torch.nn.Module):
    def __init__(self, folder):
        super().__init__()
        self.config = c = Config(folder)
        weights = self._load_weights(folder)

        def take(name, required=True):
            if name not in weights:
                if required:
                    raise ModelError(f"{folder}/model.safetensors: missing tensor {name}")
                return None
            return weights[name].float()

        embed = take("model.embed_tokens.weight", required=False)
        head = take("lm_head.weight", required=not c.tied)
        if embed is None and c.tied:
            embed = head  # tied, and only the head stored (its alias sits in __metadata__)
        if embed is None:
            raise ModelError(f"{folder}/model.safetensors: missing tensor model.embed_tokens.weight")
        self.embed = torch.nn.Parameter(embed, requires_grad=False)
        self.head = self.embed if c.tied else torch.nn.Parameter(head, requires_grad=False)
        self.final_norm = torch.nn.Parameter(take("model.norm.weight"), requires_grad=False)
        self.blocks = torch.nn.ModuleList()
        for i in range(c.layers):
            block = torch.nn.Module()
            prefix = f"model.layers.{i}."
            block.input_norm = torch.nn.Parameter(take(prefix + "input_layernorm.weight"), requires_grad=False)
            block.post_norm = torch.nn.Parameter(take(prefix + "post_attention_layernorm.weight"), requires_grad=False)
            for name, parent in LINEAR_MODULES.items():
                full = f"{prefix}{parent}.{name}"
                setattr(block, name, LoraLinear(take(full + ".weight"), take(full + ".bias", False)))
            self.blocks.append(block)
        inv_freq = 1.0 / (c.theta ** (torch.arange(0, c.head_dim, 2, dtype=torch.float32) / c.head_dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    @staticmethod
    def _load_weights(folder):
        path = os.path.join(folder, "model.safetensors")
        if not os.path.exists(path):
            raise ModelError(f"{folder}: no model.safetensors (sharded checkpoints are not supported)")
        weights, _ = read_safetensors(path)
        return weights

    def add_lora(self, targets, rank, alpha, dropout):
        """LoRA on `targets` (module names) of every block; returns the adapted (block, name) pairs."""
        adapted = []
        for i, block in enumerate(self.blocks):
            for name in targets:
                getattr(block, name).add_lora(rank, alpha, dropout)
                adapted.append((i, name))
        return adapted

    def _attention(self, block, x, cos, sin):
        c = self.config
        b, t, _ = x.shape
        q = block.q_proj(x).view(b, t, c.heads, c.head_dim).transpose(1, 2)
        k = block.k_proj(x).view(b, t, c.kv_heads, c.head_dim).transpose(1, 2)
        v = block.v_proj(x).view(b, t, c.kv_heads, c.head_dim).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        group = c.heads // c.kv_heads
        k = k.repeat_interleave(group, dim=1)
        v = v.repeat_interleave(group, dim=1)
        scores = q @ k.transpose(-1, -2) / math.sqrt(c.head_dim)
        causal = torch.ones(t, t, dtype=torch.bool).triu(1)
        probs = torch.softmax(scores.masked_fill(causal, float("-inf")), dim=-1)
        out = (probs @ v).transpose(1, 2).reshape(b, t, c.heads * c.head_dim)
        return block.o_proj(out)

    def forward(self, ids):
        """Logits [batch, positions, vocab] of a right-padded id batch [batch, positions]."""
        c = self.config
        x = F.embedding(ids, self.embed)
        angles = torch.arange(ids.shape[1], dtype=torch.float32)[:, None] * self.inv_freq[None, :]
        angles = torch.cat((angles, angles), dim=-1)
        cos, sin = angles.cos(), angles.sin()
        for block in self.blocks:
            x = x + self._attention(block, rms_norm(x, block.input_norm, c.eps), cos, sin)
            h = rms_norm(x, block.post_norm, c.eps)
            x = x + block.down_proj(F.silu(block.gate_proj(h)) * block.up_proj(h))
        return F.linear(rms_norm(x, self.final_norm, c.eps), self.head)

    def lora_state(self):
        """PEFT's adapter_model.safetensors names -> tensors of every LoRA branch."""
        out = {}
        for i, block in enumerate(self.blocks):
            for name, parent in LINEAR_MODULES.items():
                layer = getattr(block, name)
                if layer.lora_A is not None:
                    prefix = f"base_model.model.model.layers.{i}.{parent}.{name}"
                    out[prefix + ".lora_A.weight"] = layer.lora_A.detach()
                    out[prefix + ".lora_B.weight"] = layer.lora_B.detach()
        return out
