"""LLaDA's forward pass for sampling on a GPU: fused weights, fewer kernels, one CUDA graph per shape.

A sampling run calls the model hundreds of times on one [B, L] shape, and at LLaDA-8B's size a
forward of a few hundred tokens is bound by kernel launches rather than arithmetic. So:
  - q/k/v and gate/up weights are concatenated once (one matrix product each); the model's own
    Linear layers become views of them, so weights are held once and the model still works;
  - RMSNorm is one fused kernel plus the weight; rotary embeddings run on q and k together,
    with their tables computed once per shape;
  - on CUDA the whole forward is captured as a CUDA graph on first use and replayed after
    (graphs=False, or a failed capture, runs it eagerly);
  - compile=True also runs each layer through torch.compile (eager if compiling fails); a
    layer's last residual add is left to the next layer, where it fuses with the first RMSNorm.

The arithmetic is the official model's: the same dtypes and rounding points (RMSNorm and rotary
in float32, cast back before the weight, SwiGLU in the model's dtype). Kernels that sum in
another order (fused matrix products, the fused RMSNorm, compiled code) can differ in the last
bit; in bfloat16 that can flip a near-tie between two tokens or two confidences.

For inference only: the fused weights take no gradients, and a wrapped model's state_dict holds
views of shared tensors (save it from an unwrapped model).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from llada_tui.core.llada import LLaDAModel


class FusedLayer(NamedTuple):
    attn_norm: Tensor  # [d]
    qkv: Tensor  # [(H + 2 Hkv) D, d]: q rows, then k, then v
    attn_out: Tensor  # [d, d]
    ff_norm: Tensor  # [d]
    gate_up: Tensor  # [2 h, d]: ff_proj (gate) rows, then up_proj
    ff_out: Tensor  # [d, h]


def fuse_linear(*linears: nn.Linear) -> Tensor:
    """One weight for Linear layers that share their input; each layer's weight becomes a view of it."""
    fused = torch.cat([linear.weight.detach() for linear in linears])
    row = 0
    for linear in linears:
        rows = linear.weight.shape[0]
        linear.weight = nn.Parameter(fused[row : row + rows], requires_grad=False)
        row += rows
    return fused


def rms_norm(x: Tensor, weight: Tensor, eps: float) -> Tensor:
    # As the official model: normalise in float32, round to x's dtype, then scale in that dtype.
    return weight * F.rms_norm(x, (x.shape[-1],), eps=eps)


def fast_rotary_tables(cos: Tensor, sin: Tensor, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """[L, 1, D] tables for `rotary`: cos, and sin with its first half negated (see rotary)."""
    half = cos.shape[-1] // 2
    signed_sin = torch.cat((-sin[:, :half], sin[:, half:]), dim=-1)
    return cos[:, None].to(dtype), signed_sin[:, None].to(dtype)


def rotary(x: Tensor, cos: Tensor, signed_sin: Tensor) -> Tensor:
    """Rotate x [B, L, n, D] by the tables [L, 1, D]; the arithmetic runs in the tables' dtype.

    rotate_half(x) * sin == roll(x, D/2) * signed_sin exactly (a product's sign is exact), so
    this computes the official x * cos + rotate_half(x) * sin with one kernel fewer.
    """
    out = torch.empty_like(x)
    torch.add(x * cos, x.roll(x.shape[-1] // 2, dims=-1) * signed_sin, out=out)
    return out


def layer_forward(
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
) -> tuple[Tensor, Tensor]:
    """One LLaDA block with fused weights (tensors as arguments, for torch.compile).

    The block's input is x + previous_ff [B, L, d]; it returns (h, ff) whose sum is its output.
    The previous block's last residual add happens here, where compiled code fuses it with this
    block's first RMSNorm; the sums are the official model's, in the same order.
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
    if n_kv_heads != n_heads:
        k = k.repeat_interleave(n_heads // n_kv_heads, dim=1)
        v = v.repeat_interleave(n_heads // n_kv_heads, dim=1)
    y = F.scaled_dot_product_attention(q, k, v, is_causal=False)  # bidirectional, no mask
    h = x + F.linear(y.transpose(1, 2).reshape(B, L, d), attn_out)
    gate, up = F.linear(rms_norm(h, ff_norm, eps), gate_up).chunk(2, dim=-1)  # [B, L, h] each
    return h, F.linear(F.silu(gate) * up, ff_out)


class CapturedForward:
    """One forward shape captured as a CUDA graph; `run` replays it on new ids.

    The logits it returns live in the graph's memory: the next replay overwrites them.
    """

    def __init__(self, forward: Callable[[Tensor], Tensor], ids: Tensor):
        self.ids = ids.clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm up off the main stream: workspaces, kernel choices
            forward(self.ids)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.logits = forward(self.ids)

    def run(self, ids: Tensor) -> Tensor:
        self.ids.copy_(ids)
        self.graph.replay()
        return self.logits


class FastLLaDA(nn.Module):
    """A LLaDAModel wrapped for fast inference; call it like the model: (input_ids, logits_start).

    Wrapping fuses the model's weights in place (see the module docstring). On CUDA, the last
    shape's forward is kept as a CUDA graph; the logits returned then are overwritten by the
    next call, so use them before calling again (the sampler does).
    """

    def __init__(self, model: LLaDAModel, *, graphs: bool = True, compile: bool = False):
        super().__init__()
        self.model = model
        self.config = model.config
        self.graphs = graphs
        self.layers = [self._fuse(block) for block in model.transformer.blocks]
        self._layer_forward = torch.compile(layer_forward, fullgraph=True, dynamic=False) if compile else layer_forward
        self._checked = not compile  # a compiled forward is tried once before it is trusted
        self._tables: tuple[int, torch.device, Tensor, Tensor] | None = None
        self._captured: tuple[tuple, CapturedForward] | None = None

    @staticmethod
    def _fuse(block: nn.Module) -> FusedLayer:
        layer = FusedLayer(
            attn_norm=block.attn_norm.weight.detach(),
            qkv=fuse_linear(block.q_proj, block.k_proj, block.v_proj),
            attn_out=block.attn_out.weight.detach(),
            ff_norm=block.ff_norm.weight.detach(),
            gate_up=fuse_linear(block.ff_proj, block.up_proj),
            ff_out=block.ff_out.weight.detach(),
        )
        if layer.qkv.is_cuda:
            torch.cuda.empty_cache()  # hand the unfused copies back, so peak memory grows by one layer
        return layer

    def rotary(self, length: int, device: torch.device) -> tuple[Tensor, Tensor]:
        """The rotary tables for `length` positions, kept for the last shape."""
        if self._tables is None or self._tables[:2] != (length, device):
            dtype = torch.float32 if self.config.rope_full_precision else self.layers[0].qkv.dtype
            cos, sin = self.model.rotary(length, device)
            self._tables = (length, device, *fast_rotary_tables(cos, sin, dtype))
        return self._tables[2], self._tables[3]

    def logits(self, input_ids: Tensor, logits_start: int = 0) -> Tensor:
        """The forward pass, run eagerly: logits [B, L - logits_start, V] in the model's dtype."""
        config, t = self.config, self.model.transformer
        cos, signed_sin = self.rotary(input_ids.shape[1], input_ids.device)
        x = F.embedding(input_ids, t.wte.weight)  # [B, L, d]
        ff = torch.zeros_like(x)  # adding it is exact, and the first block compiles like the others
        for layer in self.layers:
            x, ff = self._layer_forward(
                x, ff, cos, signed_sin, *layer, config.n_heads, config.n_kv_heads, config.rms_norm_eps
            )
        x = rms_norm(x[:, logits_start:] + ff[:, logits_start:], t.ln_f.weight, config.rms_norm_eps)
        return F.linear(x, t.wte.weight if config.weight_tying else t.ff_out.weight)

    def forward(self, input_ids: Tensor, logits_start: int = 0) -> Tensor:
        if not self._checked:
            self._try_compiled(input_ids, logits_start)
        if not (self.graphs and input_ids.is_cuda):
            return self.logits(input_ids, logits_start)
        key = (tuple(input_ids.shape), input_ids.dtype, input_ids.device, logits_start)
        if self._captured is None or self._captured[0] != key:
            self._captured = None  # free the previous graph's memory before capturing another
            try:
                self._captured = (key, CapturedForward(lambda ids: self.logits(ids, logits_start), input_ids))
            except RuntimeError as error:
                warnings.warn(f"CUDA graph capture failed, running eagerly: {error}", stacklevel=2)
                self.graphs = False
                return self.logits(input_ids, logits_start)
        return self._captured[1].run(input_ids)

    def _try_compiled(self, input_ids: Tensor, logits_start: int) -> None:
        self._checked = True
        try:
            self.logits(input_ids, logits_start)
        except Exception as error:  # torch.compile fails in many ways (no compiler, unsupported op, ...)
            warnings.warn(f"torch.compile failed, running eagerly: {str(error).splitlines()[0]}", stacklevel=3)
            self._layer_forward = layer_forward


def accelerate(model: LLaDAModel, *, graphs: bool = True, compile: bool = False) -> FastLLaDA:
    """Wrap a loaded model for fast sampling (fuses its weights in place; see FastLLaDA)."""
    return FastLLaDA(model, graphs=graphs, compile=compile)
