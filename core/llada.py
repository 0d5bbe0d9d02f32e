"""LLaDA, natively: the bidirectional Llama-style transformer behind LLaDA-8B, in one file.

Reads the official config.json and uses the official tensor names, so an official checkpoint
loads into it directly and `model.state_dict()` saves one. The numerics follow the official
modeling code: RMSNorm in float32, rotary embeddings in float32, attention with no mask,
SwiGLU feed-forward, an untied output head unless `weight_tying`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from llada_tui.core.config import LLaDAConfig


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        # Normalise in float32, cast back, then scale in the input's dtype (as the official model).
        x32 = x.float()
        normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * normed.to(x.dtype)


def rotary_tables(length: int, head_dim: int, theta: float, device: torch.device) -> tuple[Tensor, Tensor]:
    """cos and sin of the rotary angles, float32 [length, head_dim], halves repeated."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float) / head_dim))
    angles = torch.outer(torch.arange(length, device=device, dtype=torch.float), inv_freq)
    angles = torch.cat((angles, angles), dim=-1)
    return angles.cos(), angles.sin()


def rotate_half(x: Tensor) -> Tensor:
    first, second = x.chunk(2, dim=-1)
    return torch.cat((-second, first), dim=-1)


def apply_rotary(x: Tensor, cos: Tensor, sin: Tensor, full_precision: bool) -> Tensor:
    # x: [B, H, L, D]; cos, sin: [L, D] float32
    xr = x.float() if full_precision else x
    cos, sin = cos.to(xr.dtype), sin.to(xr.dtype)
    return (xr * cos + rotate_half(xr) * sin).to(x.dtype)


class Block(nn.Module):
    """One LLaDA layer, with the official parameter names."""

    def __init__(self, config: LLaDAConfig):
        super().__init__()
        d, kv, h = config.d_model, config.n_kv_heads * config.head_dim, config.mlp_hidden_size
        self.n_heads, self.n_kv_heads, self.head_dim = config.n_heads, config.n_kv_heads, config.head_dim
        self.rope_full_precision = config.rope_full_precision
        self.attn_norm = RMSNorm(d, config.rms_norm_eps)
        self.q_proj = nn.Linear(d, d, bias=False)
        self.k_proj = nn.Linear(d, kv, bias=False)
        self.v_proj = nn.Linear(d, kv, bias=False)
        self.attn_out = nn.Linear(d, d, bias=False)
        self.ff_norm = RMSNorm(d, config.rms_norm_eps)
        self.ff_proj = nn.Linear(d, h, bias=False)
        self.up_proj = nn.Linear(d, h, bias=False)
        self.ff_out = nn.Linear(h, d, bias=False)

    def attention(self, x: Tensor, cos: Tensor, sin: Tensor, key_mask: Tensor | None) -> Tensor:
        B, L, d = x.shape
        q = self.q_proj(x).view(B, L, self.n_heads, self.head_dim).transpose(1, 2)  # [B, H, L, D]
        k = self.k_proj(x).view(B, L, self.n_kv_heads, self.head_dim).transpose(1, 2)  # [B, Hkv, L, D]
        v = self.v_proj(x).view(B, L, self.n_kv_heads, self.head_dim).transpose(1, 2)
        q = apply_rotary(q, cos, sin, self.rope_full_precision)
        k = apply_rotary(k, cos, sin, self.rope_full_precision)
        if self.n_kv_heads != self.n_heads:
            k = k.repeat_interleave(self.n_heads // self.n_kv_heads, dim=1)
            v = v.repeat_interleave(self.n_heads // self.n_kv_heads, dim=1)
        mask = None if key_mask is None else key_mask[:, None, None, :]  # [B, 1, 1, L]
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=False)  # bidirectional
        return self.attn_out(y.transpose(1, 2).reshape(B, L, d))

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, key_mask: Tensor | None = None) -> Tensor:
        x = x + self.attention(self.attn_norm(x), cos, sin, key_mask)
        h = self.ff_norm(x)
        return x + self.ff_out(F.silu(self.ff_proj(h)) * self.up_proj(h))


class Transformer(nn.Module):
    def __init__(self, config: LLaDAConfig):
        super().__init__()
        # On the meta device (loading), skip the random init: its first call costs ~2 s of imports.
        weight = torch.empty(config.embedding_size, config.d_model)
        if not weight.is_meta:
            nn.init.normal_(weight)
        self.wte = nn.Embedding(config.embedding_size, config.d_model, _weight=weight)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.ln_f = RMSNorm(config.d_model, config.rms_norm_eps)
        if not config.weight_tying:
            self.ff_out = nn.Linear(config.d_model, config.embedding_size, bias=False)


class LLaDAModel(nn.Module):
    """LLaDA's mask predictor. State dict keys are the official ones (`model.transformer....`)."""

    def __init__(self, config: LLaDAConfig):
        super().__init__()
        self.config = config
        self.model = nn.Module()  # an empty level, so that parameter names match the official ones
        self.model.transformer = Transformer(config)
        self._rotary: dict[torch.device, tuple[Tensor, Tensor]] = {}  # the longest tables so far

    @property
    def transformer(self) -> Transformer:
        return self.model.transformer

    def rotary(self, length: int, device: torch.device) -> tuple[Tensor, Tensor]:
        """Rotary cos and sin for positions [0, length), computed once per device and sliced."""
        cached = self._rotary.get(device)
        if cached is None or cached[0].shape[0] < length:
            cached = rotary_tables(length, self.config.head_dim, self.config.rope_theta, device)
            self._rotary[device] = cached
        cos, sin = cached
        return cos[:length], sin[:length]

    def forward(self, input_ids: Tensor, logits_start: int = 0, key_mask: Tensor | None = None) -> Tensor:
        """Logits [B, L - logits_start, embedding_size] for input_ids [B, L], in the model's dtype.

        The output head runs only for positions >= logits_start. key_mask [B, L] (bool), for training
        rows of different lengths in one batch: attention sees only the keys where it is True, so each
        row is computed as if it ended at its last True position (sampling never passes one).
        """
        t = self.transformer
        cos, sin = self.rotary(input_ids.shape[1], input_ids.device)
        x = t.wte(input_ids)  # [B, L, d]
        for block in t.blocks:
            x = block(x, cos, sin, key_mask)
        x = t.ln_f(x[:, logits_start:])
        head = t.wte.weight if self.config.weight_tying else t.ff_out.weight
        return F.linear(x, head)


def init_weights(model: LLaDAModel, std: float = 0.02) -> None:
    """Random normal weights for a model trained from scratch; norms start at one.

    Output projections are scaled down by sqrt(2 * n_layers), as in GPT-2 / nanoGPT.
    """
    residual_std = std / math.sqrt(2 * model.config.n_layers)
    for name, param in model.named_parameters():
        if name.endswith("norm.weight") or name.endswith("ln_f.weight"):
            nn.init.ones_(param)
        elif name.endswith("attn_out.weight") or (".blocks." in name and name.endswith("ff_out.weight")):
            nn.init.normal_(param, std=residual_std)
        else:
            nn.init.normal_(param, std=std)
