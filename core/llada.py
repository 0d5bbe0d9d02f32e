"""LLaDA, natively: the bidirectional Llama-style transformer behind LLaDA-8B, in one file.

Reads the official config.json. Inside, q/k/v are one matrix (`qkv`) and the gate and up
projections another (`gate_up`): one matrix product each instead of three and two, which is
what a forward of a few hundred tokens at LLaDA-8B's size is bound by. The official tensor
names are mapped in both directions (`load_state_dict` takes an official state dict,
`state_dict()` gives one, `official_tensors` names every weight), so an official checkpoint
loads directly and a saved model is one.

One block implementation, `block_forward`, serves training, sampling and the GPU fast path
(core/fast.py compiles it and captures the whole forward as a CUDA graph). Its numerics are the
official model's: RMSNorm and rotary in float32, rounded to the model's dtype before the weight,
attention with no mask, SwiGLU in the model's dtype, an untied head unless `weight_tying`.
Fused products and fused kernels may sum in another order than the official code and differ in
the last bit; in bfloat16 that can flip a near-tie between two tokens.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from llada_tui.core.config import LLaDAConfig
from llada_tui.core.kv_cache import KVCache, LayerCache


def rms_norm(x: Tensor, weight: Tensor, eps: float) -> Tensor:
    # As the official model: normalise in float32, round to x's dtype, then scale in that dtype.
    return weight * F.rms_norm(x, (x.shape[-1],), eps=eps)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        return rms_norm(x, self.weight, self.eps)


def rotary_tables(length: int, head_dim: int, theta: float, device: torch.device) -> tuple[Tensor, Tensor]:
    """Rotary tables for `rotary`, float32 [length, 1, head_dim]: cos, and sin with its first half negated."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float) / head_dim))
    angles = torch.outer(torch.arange(length, device=device, dtype=torch.float), inv_freq)
    cos, sin = angles.cos(), angles.sin()
    return torch.cat((cos, cos), dim=-1)[:, None], torch.cat((-sin, sin), dim=-1)[:, None]


def rotary(x: Tensor, cos: Tensor, signed_sin: Tensor) -> Tensor:
    """Rotate x [B, L, n, D] by the tables [L, 1, D]; the arithmetic runs in the tables' dtype.

    The official x * cos + rotate_half(x) * sin, where rotate_half(x) = cat(-x2, x1): that equals
    roll(x, D/2) * signed_sin exactly (a product's sign is exact), with one kernel fewer.
    """
    rotated = x.roll(x.shape[-1] // 2, dims=-1) * signed_sin
    if x.requires_grad and torch.is_grad_enabled():
        return (x * cos + rotated).to(x.dtype)
    out = torch.empty_like(x)  # the sum written in x's dtype directly: one kernel fewer (but no gradients)
    return torch.add(x * cos, rotated, out=out)


def block_forward(
    x: Tensor,
    previous_ff: Tensor,
    cos: Tensor,
    signed_sin: Tensor,
    attn_norm: Tensor,
    qkv: Tensor,
    attn_out: Tensor,
    ff_norm: Tensor,
    gate_up: Tensor,
    ff_out: Tensor,
    n_heads: int,
    n_kv_heads: int,
    eps: float,
    mask: Tensor | None = None,
    cache: LayerCache | None = None,
) -> tuple[Tensor, Tensor]:
    """One LLaDA block (weights as arguments, so that one compiled function serves every block).

    The block's input is x + previous_ff [B, L, d]; it returns (h, ff) whose sum is its output.
    The previous block's last residual add happens here, where compiled code fuses it with this
    block's first RMSNorm; the sums are the official model's, in the same order.
    mask (bool, True = may attend) broadcasts to [B, H, L, keys]; None attends everywhere.
    cache (core/kv_cache.py) keeps this block's keys and values, or takes this input's into its
    span and lends it those of the positions this input does not cover.
    """
    x = x + previous_ff
    B, L, d = x.shape
    head_dim = d // n_heads
    n_qk = n_heads + n_kv_heads
    projected = F.linear(rms_norm(x, attn_norm, eps), qkv)  # [B, L, (H + 2 Hkv) D]
    qk = rotary(projected[..., : n_qk * head_dim].view(B, L, n_qk, head_dim), cos, signed_sin)
    q = qk[:, :, :n_heads].transpose(1, 2)  # [B, H, L, D]
    k = qk[:, :, n_heads:].transpose(1, 2)  # [B, Hkv, L, D]
    v = projected[..., n_qk * head_dim :].view(B, L, n_kv_heads, head_dim).transpose(1, 2)
    if cache is not None:
        k, v = cache.attend(k, v)
    if n_kv_heads != n_heads:
        k = k.repeat_interleave(n_heads // n_kv_heads, dim=1)
        v = v.repeat_interleave(n_heads // n_kv_heads, dim=1)
    y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=False)  # bidirectional
    h = x + F.linear(y.transpose(1, 2).reshape(B, L, d), attn_out)
    gate, up = F.linear(rms_norm(h, ff_norm, eps), gate_up).chunk(2, dim=-1)  # [B, L, h] each
    return h, F.linear(F.silu(gate) * up, ff_out)


BlockForward = Callable[..., tuple[Tensor, Tensor]]

# A block's weights under the official names, in the official checkpoint's order.
OFFICIAL_NAMES = ("attn_norm", "q_proj", "k_proj", "v_proj", "attn_out", "ff_norm", "ff_proj", "up_proj", "ff_out")


class Block(nn.Module):
    """One LLaDA layer. Its fused weights hold the official ones in row order: `qkv` is q_proj,
    k_proj, v_proj stacked; `gate_up` is ff_proj (the gate), then up_proj."""

    def __init__(self, config: LLaDAConfig):
        super().__init__()
        d, kv, h = config.d_model, config.n_kv_heads * config.head_dim, config.mlp_hidden_size
        self.attn_norm = RMSNorm(d, config.rms_norm_eps)
        self.qkv = nn.Linear(d, d + 2 * kv, bias=False)
        self.attn_out = nn.Linear(d, d, bias=False)
        self.ff_norm = RMSNorm(d, config.rms_norm_eps)
        self.gate_up = nn.Linear(d, 2 * h, bias=False)
        self.ff_out = nn.Linear(h, d, bias=False)
        # official name -> (fused parameter, first row, rows)
        self.parts = {
            "q_proj": ("qkv", 0, d),
            "k_proj": ("qkv", d, kv),
            "v_proj": ("qkv", d + kv, kv),
            "ff_proj": ("gate_up", 0, h),
            "up_proj": ("gate_up", h, h),
        }
        self.register_load_state_dict_pre_hook(Block._fuse_official)
        self.register_state_dict_post_hook(Block._split_fused)

    def weights(self) -> tuple[Tensor, ...]:
        """The weights in block_forward's order."""
        return (
            self.attn_norm.weight,
            self.qkv.weight,
            self.attn_out.weight,
            self.ff_norm.weight,
            self.gate_up.weight,
            self.ff_out.weight,
        )

    def official_tensors(self) -> dict[str, Tensor]:
        """Official name -> the tensor holding that weight (a view into a fused one), in the official order."""
        tensors = {}
        for name in OFFICIAL_NAMES:
            if name in self.parts:
                fused, row, rows = self.parts[name]
                tensors[f"{name}.weight"] = getattr(self, fused).weight.detach().narrow(0, row, rows)
            else:
                tensors[f"{name}.weight"] = getattr(self, name).weight.detach()
        return tensors

    @staticmethod
    def _fuse_official(block: Block, state: dict[str, Tensor], prefix: str, *_) -> None:
        # An official state dict: stack each fused weight's parts (left alone if any is missing,
        # so that load_state_dict reports the names it lacks).
        for fused in ("qkv", "gate_up"):
            names = [f"{prefix}{name}.weight" for name, (at, _, _) in block.parts.items() if at == fused]
            if all(name in state for name in names):
                state[f"{prefix}{fused}.weight"] = torch.cat([state.pop(name) for name in names])

    @staticmethod
    def _split_fused(block: Block, state: dict[str, Tensor], prefix: str, _metadata: object) -> None:
        # The block's own keys are the last ones in `state` when this runs: put back the official ones.
        for name in [key for key in state if key.startswith(prefix)]:
            del state[name]
        state.update({prefix + name: tensor for name, tensor in block.official_tensors().items()})


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
        self._rotary: dict[tuple[torch.device, torch.dtype], tuple[Tensor, Tensor]] = {}  # the longest so far

    @property
    def transformer(self) -> Transformer:
        return self.model.transformer

    def official_tensors(self) -> dict[str, Tensor]:
        """Every weight under its official name, as a tensor sharing the model's memory (loading copies into these)."""
        tensors = {}
        for name, module in self.transformer.named_children():
            prefix = f"model.transformer.{name}."
            if name == "blocks":
                for i, block in enumerate(module):
                    tensors.update({f"{prefix}{i}.{key}": t for key, t in block.official_tensors().items()})
            else:
                tensors[prefix + "weight"] = module.weight.detach()
        return tensors

    def rotary(self, length: int, device: torch.device) -> tuple[Tensor, Tensor]:
        """Rotary tables [length, 1, D] for positions [0, length), in the dtype rotary runs in (float32
        with rope_full_precision, as the official model, else the weights'); computed once and sliced."""
        dtype = torch.float32 if self.config.rope_full_precision else self.transformer.wte.weight.dtype
        cached = self._rotary.get((device, dtype))
        if cached is None or cached[0].shape[0] < length:
            tables = rotary_tables(length, self.config.head_dim, self.config.rope_theta, device)
            cached = self._rotary[(device, dtype)] = tuple(table.to(dtype) for table in tables)
        cos, signed_sin = cached
        return cos[:length], signed_sin[:length]

    def forward(
        self,
        input_ids: Tensor,
        logits_start: int = 0,
        *,
        mask: Tensor | None = None,
        positions: Tensor | None = None,
        cache: KVCache | None = None,
        layer: BlockForward = block_forward,
    ) -> Tensor:
        """Logits [B, L - logits_start, embedding_size] for input_ids [B, L], in the model's dtype.

        The output head runs only for positions >= logits_start. Optional, for samplers and training:
          - mask (bool, True = may attend), broadcast to [B, heads, L, keys]: e.g. [B, 1, 1, L] for
            training rows of different lengths, each computed as if it ended at its last key;
          - positions [L]: the rotary position of each input (default 0..L-1);
          - cache: a KVCache to fill, or, pointed at a span (KVCache.at), the keys and values of
            the positions this input does not cover (it covers cache.start .. cache.start + L, or
            `positions` if given: a device tensor, so that a CUDA graph can replay the span elsewhere).
        `layer` computes each block (core/fast.py passes a compiled block_forward).
        """
        config, t = self.config, self.transformer
        length, device = input_ids.shape[1], input_ids.device
        if cache is not None and cache.start is not None:  # a span of a filled cache
            if positions is None:
                positions = torch.arange(cache.start, cache.start + length, device=device)
            cache.place(positions)
            cos, signed_sin = (table[positions] for table in self.rotary(cache.length, device))
        elif positions is None:
            cos, signed_sin = self.rotary(length, device)
        else:
            cos, signed_sin = (table[positions] for table in self.rotary(int(positions.max()) + 1, device))
        x = F.embedding(input_ids, t.wte.weight)  # [B, L, d]
        ff = torch.zeros_like(x)  # adding it is exact, and the first block compiles like the others
        for i, block in enumerate(t.blocks):
            x, ff = layer(
                x,
                ff,
                cos,
                signed_sin,
                *block.weights(),
                config.n_heads,
                config.n_kv_heads,
                config.rms_norm_eps,
                mask,
                None if cache is None else cache.layers[i],
            )
        x = t.ln_f(x[:, logits_start:] + ff[:, logits_start:])
        return F.linear(x, t.wte.weight if config.weight_tying else t.ff_out.weight)

    def predict(self, ids: Tensor, start: int, attention_mask: Tensor | None = None) -> Tensor:
        """The sampler's view (core/predictor.py): logits of positions start.. . The attention mask is
        ignored, as the official model ignores it (LLaDA was trained without padding masks)."""
        return self(ids, logits_start=start)

    def predict_cached(self, ids: Tensor, start: int, cache: KVCache) -> Tensor:
        """For the cached samplers (core/cached.py): logits of positions start.. of ids, with `cache`."""
        return self(ids, logits_start=start, cache=cache)

    def predict_masked(self, ids: Tensor, start: int, mask: Tensor, positions: Tensor) -> Tensor:
        """For WINO (core/wino.py): logits of positions start.. of ids, with an attention mask and positions."""
        return self(ids, logits_start=start, mask=mask, positions=positions)


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
