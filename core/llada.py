"""LLaDA, natively: the bidirectional Llama-style transformer behind LLaDA-8B, in one file.

Reads the official config.json and uses the official tensor names, so an official checkpoint
loads into it directly and `model.state_dict()` saves one. The numerics follow the official
modeling code: RMSNorm in float32, rotary embeddings in float32, attention with no mask,
SwiGLU feed-forward, an untied output head unless `weight_tying`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# Keys of config.json whose value we do not implement otherwise: key -> the only value we accept.
# A missing key is taken to have this value (what every LLaDA checkpoint has).
_FIXED = {
    "block_type": "llama",
    "activation_type": "silu",
    "layer_norm_type": "rms",
    "include_bias": False,
    "include_qkv_bias": False,
    "rope": True,
    "alibi": False,
    "attention_layer_norm": False,
    "input_emb_norm": False,
    "scale_logits": False,
    "layer_norm_with_affine": True,
    "bias_for_layer_norm": False,
}


# Bounds on config.json's sizes: each far above LLaDA-8B's (4096, 32, 12288, 126464, 4096), low
# enough that a hostile config cannot make us build a model of a million layers.
MAX_D_MODEL = 1 << 16
MAX_LAYERS = 1 << 10
MAX_MLP_HIDDEN = 1 << 18
MAX_MLP_RATIO = 64
MAX_VOCAB = 1 << 20
MAX_SEQUENCE_LENGTH = 1 << 20


def _shown(value: Any) -> str:
    """A config value as an error message quotes it: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass
class LLaDAConfig:
    d_model: int
    n_layers: int
    n_heads: int
    vocab_size: int
    n_kv_heads: int | None = None  # None: as many as n_heads
    mlp_hidden_size: int | None = None  # None: mlp_ratio * d_model
    mlp_ratio: int = 4
    embedding_size: int | None = None  # rows of the embedding and the head; None: vocab_size
    max_sequence_length: int = 4096
    rope_theta: float = 500000.0
    rope_full_precision: bool = True
    rms_norm_eps: float = 1e-5
    weight_tying: bool = False
    mask_token_id: int | None = None
    eos_token_id: int | None = None
    pad_token_id: int | None = None

    def __post_init__(self) -> None:
        """Check every value (ValueError, one line naming the key and its bounds), then fill defaults."""
        sizes = {
            "d_model": MAX_D_MODEL,
            "n_layers": MAX_LAYERS,
            "n_heads": MAX_D_MODEL,
            "vocab_size": MAX_VOCAB,
            "n_kv_heads": MAX_D_MODEL,
            "mlp_hidden_size": MAX_MLP_HIDDEN,
            "mlp_ratio": MAX_MLP_RATIO,
            "embedding_size": MAX_VOCAB,
            "max_sequence_length": MAX_SEQUENCE_LENGTH,
        }
        for key, limit in sizes.items():
            value = getattr(self, key)
            if value is not None and not (_is_int(value) and 1 <= value <= limit):
                raise ValueError(f"config.json: {key} must be an integer in [1, {limit}], got {_shown(value)}")
        if not (_is_number(self.rope_theta) and self.rope_theta > 0):
            raise ValueError(f"config.json: rope_theta must be a finite number > 0, got {_shown(self.rope_theta)}")
        if not (_is_number(self.rms_norm_eps) and 0 <= self.rms_norm_eps <= 1):
            raise ValueError(
                f"config.json: rms_norm_eps must be a finite number in [0, 1], got {_shown(self.rms_norm_eps)}"
            )
        for key in ("rope_full_precision", "weight_tying"):
            if not isinstance(getattr(self, key), bool):
                raise ValueError(f"config.json: {key} must be true or false, got {_shown(getattr(self, key))}")
        for key in ("mask_token_id", "eos_token_id", "pad_token_id"):
            value = getattr(self, key)
            if value is not None and not (_is_int(value) and 0 <= value < self.vocab_size):
                raise ValueError(
                    f"config.json: {key} must be a token id in [0, {self.vocab_size}), got {_shown(value)}"
                )

        if self.n_kv_heads is None:
            self.n_kv_heads = self.n_heads
        if self.mlp_hidden_size is None:
            self.mlp_hidden_size = self.mlp_ratio * self.d_model
            if self.mlp_hidden_size > MAX_MLP_HIDDEN:
                raise ValueError(f"config.json: mlp_ratio * d_model must be at most {MAX_MLP_HIDDEN}")
        if self.embedding_size is None:
            self.embedding_size = self.vocab_size
        if self.d_model % self.n_heads:
            raise ValueError(f"config.json: d_model {self.d_model} is not a multiple of n_heads {self.n_heads}")
        if self.head_dim % 2:
            raise ValueError(f"config.json: head size d_model / n_heads = {self.head_dim} must be even")
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"config.json: n_heads {self.n_heads} is not a multiple of n_kv_heads {self.n_kv_heads}")
        if self.embedding_size < self.vocab_size:
            raise ValueError(
                f"config.json: embedding_size {self.embedding_size} is smaller than vocab_size {self.vocab_size}"
            )
        self.rope_theta = float(self.rope_theta)
        self.rms_norm_eps = float(self.rms_norm_eps)

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @classmethod
    def from_json_dict(cls, d: dict[str, Any]) -> LLaDAConfig:
        """Build from the official config.json; unsupported architecture options raise ValueError."""
        for key, supported in _FIXED.items():
            value = d.get(key, supported)
            if value != supported:
                raise ValueError(f"config.json: {key}={value!r} is not supported (only {supported!r})")
        if d.get("multi_query_attention"):
            raise ValueError("config.json: multi_query_attention=True is not supported (use n_kv_heads)")
        missing = [key for key in ("d_model", "n_layers", "n_heads", "vocab_size") if d.get(key) is None]
        if missing:
            raise ValueError(f"config.json: missing key {missing[0]!r}")
        known = cls.__dataclass_fields__
        return cls(**{key: value for key, value in d.items() if key in known and value is not None})

    def to_json_dict(self) -> dict[str, Any]:
        """The official config.json keys for this model (without `auto_map`: no remote code)."""
        return {
            "model_type": "llada",
            "architectures": ["LLaDAModelLM"],
            **_FIXED,
            **asdict(self),
        }

    def tensor_shapes(self) -> dict[str, tuple[int, ...]]:
        """The official tensor names and shapes of a checkpoint with this config, in state_dict order.

        What LLaDAModel(self).state_dict() holds, computed without building the model, so that
        weight files can be checked against a config before a model of its size is made.
        """
        d, h, kv = self.d_model, self.mlp_hidden_size, self.n_kv_heads * self.head_dim
        prefix = "model.transformer."
        shapes: dict[str, tuple[int, ...]] = {f"{prefix}wte.weight": (self.embedding_size, d)}
        block = {
            "attn_norm": (d,),
            "q_proj": (d, d),
            "k_proj": (kv, d),
            "v_proj": (kv, d),
            "attn_out": (d, d),
            "ff_norm": (d,),
            "ff_proj": (h, d),
            "up_proj": (h, d),
            "ff_out": (d, h),
        }
        for i in range(self.n_layers):
            shapes.update({f"{prefix}blocks.{i}.{name}.weight": shape for name, shape in block.items()})
        shapes[f"{prefix}ln_f.weight"] = (d,)
        if not self.weight_tying:
            shapes[f"{prefix}ff_out.weight"] = (self.embedding_size, d)
        return shapes

    def num_params(self) -> int:
        d, h, kv = self.d_model, self.mlp_hidden_size, self.n_kv_heads * self.head_dim
        per_block = 2 * d + 2 * d * d + 2 * d * kv + 3 * d * h  # norms, q/out, k/v, swiglu
        head = 0 if self.weight_tying else self.embedding_size * d
        return self.embedding_size * d + self.n_layers * per_block + d + head

    def summary(self) -> dict[str, Any]:
        """A short description for the trace header."""
        return {
            "layers": self.n_layers,
            "d_model": self.d_model,
            "heads": self.n_heads,
            "kv_heads": self.n_kv_heads,
            "mlp_hidden": self.mlp_hidden_size,
            "vocab": self.vocab_size,
            "params": self.num_params(),
        }


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
