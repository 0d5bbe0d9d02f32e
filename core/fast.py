"""LLaDA's forward for sampling on a GPU: the model's own forward, captured as CUDA graphs, optionally compiled.

A sampling run calls the model hundreds of times on one [B, L] shape, and at LLaDA-8B's size a
forward of a few hundred tokens is bound by kernel launches rather than arithmetic. So on CUDA
the whole forward is captured as a CUDA graph on first use of a shape and replayed after
(graphs=False, or a failed capture, runs it eagerly); compile=True also runs each block through
torch.compile (eager if compiling fails), where the residual add a block leaves to the next one
fuses with that one's first RMSNorm. The arithmetic is the model's (core/llada.py); compiled
kernels may sum in another order and differ in the last bit.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
from torch import Tensor

from llada_tui.core.kv_cache import KVCache
from llada_tui.core.llada import LLaDAModel, block_forward


class CapturedForward:
    """One forward shape captured as a CUDA graph; `run` replays it on new ids.

    The logits it returns live in the graph's memory: the next replay overwrites them.
    """

    def __init__(self, forward: Callable[[Tensor], Tensor], ids: Tensor):
        self.ids = ids.clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm up off the main stream: workspaces, kernel choices, rotary tables
            forward(self.ids)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.logits = forward(self.ids)

    def run(self, ids: Tensor) -> Tensor:
        self.ids.copy_(ids)
        self.graph.replay()
        return self.logits


class FastLLaDA:
    """A LLaDAModel run for sampling: CUDA graphs, and torch.compile if asked (see the module docstring).

    On CUDA the last shape's forward is kept as a CUDA graph; the logits `predict` returns are
    then overwritten by the next call, so use them before calling again (the sampler does).
    """

    def __init__(self, model: LLaDAModel, *, graphs: bool = True, compile: bool = False):
        self.model = model
        self.config = model.config
        self.graphs = graphs
        self.layer = torch.compile(block_forward, fullgraph=True, dynamic=False) if compile else block_forward
        self._checked = not compile  # a compiled forward is tried once before it is trusted
        self._captured: tuple[tuple, CapturedForward] | None = None

    def logits(self, ids: Tensor, start: int = 0) -> Tensor:
        """The model's forward with this path's block function, run eagerly."""
        return self.model(ids, logits_start=start, layer=self.layer)

    def predict(self, ids: Tensor, start: int, attention_mask: Tensor | None = None) -> Tensor:
        """Logits of positions start.. of ids [B, L]; the attention mask is ignored, as by the model."""
        if not self._checked:
            self._try_compiled(ids, start)
        if not (self.graphs and ids.is_cuda):
            return self.logits(ids, start)
        key = (tuple(ids.shape), ids.dtype, ids.device, start)
        if self._captured is None or self._captured[0] != key:
            self._captured = None  # free the previous graph's memory before capturing another
            try:
                self._captured = (key, CapturedForward(lambda batch: self.logits(batch, start), ids))
            except RuntimeError as error:
                warnings.warn(f"CUDA graph capture failed, running eagerly: {error}", stacklevel=2)
                self.graphs = False
                return self.logits(ids, start)
        return self._captured[1].run(ids)

    def predict_cached(self, ids: Tensor, start: int, cache: KVCache) -> Tensor:
        """The cached samplers' forward (core/cached.py), eagerly for now: no graphs or compile."""
        return self.model.predict_cached(ids, start, cache)

    def predict_masked(self, ids: Tensor, start: int, mask: Tensor, positions: Tensor) -> Tensor:
        """WINO's forward (core/wino.py), eagerly for now."""
        return self.model.predict_masked(ids, start, mask, positions)

    def _try_compiled(self, ids: Tensor, start: int) -> None:
        self._checked = True
        try:
            self.logits(ids, start)
        except Exception as error:  # torch.compile fails in many ways (no compiler, unsupported op, ...)
            warnings.warn(f"torch.compile failed, running eagerly: {str(error).splitlines()[0]}", stacklevel=3)
            self.layer = block_forward
