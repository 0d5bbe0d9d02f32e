"""LLaDA's forward for sampling on a GPU: the model's own forward, captured as CUDA graphs, optionally compiled.

A sampling run calls the model hundreds of times on one [B, L] shape, and at LLaDA-8B's size a
forward of a few hundred tokens is bound by kernel launches rather than arithmetic. So on CUDA
the whole forward is captured as a CUDA graph on first use of a shape and replayed after
(graphs=False, or a failed capture, runs it eagerly); compile=True also runs each block through
torch.compile (eager if compiling fails), where the residual add a block leaves to the next one
fuses with that one's first RMSNorm. The arithmetic is the model's (core/llada.py); compiled
kernels may sum in another order and differ in the last bit.

The cached samplers (core/cached.py) get graphs too: the block-start forward that fills the
KV cache is one graph per run shape, whose keys and values stay in the graph's memory and are
lent to the sampler's cache; a forward over a span (the dual cache's block: one shape for the
whole run; the prefix cache's block and what follows: one per block) is a graph that writes its
keys and values into those, at positions read from a device tensor, so one graph serves every
block of its shape. Spans are compiled with dynamic sizes after their second shape (the prefix
cache's shrinking spans would otherwise compile once per block), and captured with cuBLASLt as
torch's BLAS library: at the dual cache's 32 rows its kernels read LLaDA-8B's weights 4 % faster
than cuBLAS's (benchmarks/NOTES.md, issue 16); the graph keeps them, and the setting is restored.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import Tensor

from llada_tui.core.kv_cache import KVCache
from llada_tui.core.llada import LLaDAModel, block_forward


class CapturedForward:
    """One forward shape captured as a CUDA graph; `run` replays it on new inputs.

    The inputs are copied into the graph's own before each replay. The logits it returns live in
    the graph's memory: the next replay (of this graph, or of one sharing its pool) overwrites them.
    """

    def __init__(self, forward: Callable[..., Tensor], *inputs: Tensor, pool: tuple | None = None):
        self.inputs = [tensor.clone() for tensor in inputs]
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm up off the main stream: workspaces, kernel choices, compiling
            forward(*self.inputs)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph, pool=pool):
            self.logits = forward(*self.inputs)

    def run(self, *inputs: Tensor) -> Tensor:
        for static, new in zip(self.inputs, inputs):
            static.copy_(new)
        self.graph.replay()
        return self.logits


@contextmanager
def blas_library(library: str) -> Iterator[None]:
    """torch's BLAS library for the matrix products launched inside (a CUDA graph keeps the kernels it
    captured); torch's choice where this build lacks that library."""
    before = torch.backends.cuda.preferred_blas_library()
    try:
        torch.backends.cuda.preferred_blas_library(library)
    except RuntimeError:  # e.g. "Cannot set preferred backend to cuBLASLt if PyTorch has not been compiled with it"
        pass
    try:
        yield
    finally:
        torch.backends.cuda.preferred_blas_library(before)


def span_block_forward(*args):
    """block_forward under another name: its own code object, so its compiled shapes are counted apart."""
    return block_forward(*args)


class CompiledLayer:
    """A block function through torch.compile; if compiling fails, block_forward from then on."""

    def __init__(self, function: Callable[..., tuple[Tensor, Tensor]], dynamic: bool | None):
        self.compiled: Callable[..., tuple[Tensor, Tensor]] | None = torch.compile(
            function, fullgraph=True, dynamic=dynamic
        )

    def __call__(self, *args):
        if self.compiled is not None:
            try:
                return self.compiled(*args)
            except Exception as error:  # torch.compile fails in many ways (no compiler, unsupported op, ...)
                warnings.warn(f"torch.compile failed, running eagerly: {str(error).splitlines()[0]}", stacklevel=2)
                self.compiled = None
        return block_forward(*args)


class FastLLaDA:
    """A LLaDAModel run for sampling: CUDA graphs, and torch.compile if asked (see the module docstring).

    On CUDA the last shape's forward is kept as a CUDA graph; the logits `predict` and
    `predict_cached` return are then overwritten by the next call, so use them before calling
    again (the samplers do).
    """

    def __init__(self, model: LLaDAModel, *, graphs: bool = True, compile: bool = False):
        self.model = model
        self.config = model.config
        self.graphs = graphs
        # Fixed shapes (the uncached forward, the block-start forward): one compile each.
        self.layer = CompiledLayer(block_forward, dynamic=False) if compile else block_forward
        # Spans: the dual cache's keeps its shape, the prefix cache's shrinks every block.
        self.span_layer = CompiledLayer(span_block_forward, dynamic=None) if compile else block_forward
        self._captured: tuple[tuple, CapturedForward] | None = None
        self._filling: tuple[tuple, CapturedForward, KVCache] | None = None  # the run shape's filling forward
        self._spans: dict[tuple, CapturedForward] = {}  # the spans over its cache
        self._pool: tuple | None = None  # the cached forwards' graphs share their memory

    def logits(self, ids: Tensor, start: int = 0) -> Tensor:
        """The model's forward with this path's block function, run eagerly."""
        return self.model(ids, logits_start=start, layer=self.layer)

    def predict(self, ids: Tensor, start: int, attention_mask: Tensor | None = None) -> Tensor:
        """Logits of positions start.. of ids [B, L]; the attention mask is ignored, as by the model."""
        if not (self.graphs and ids.is_cuda):
            return self.logits(ids, start)
        key = (tuple(ids.shape), ids.dtype, ids.device, start)
        if self._captured is None or self._captured[0] != key:
            self._captured = None  # free the previous graph's memory before capturing another
            try:
                self._captured = (key, CapturedForward(lambda batch: self.logits(batch, start), ids))
            except RuntimeError as error:
                self._no_graphs(error)
                return self.logits(ids, start)
        return self._captured[1].run(ids)

    def predict_cached(self, ids: Tensor, start: int, cache: KVCache) -> Tensor:
        """The cached samplers' forward (core/cached.py): logits of positions start.. of ids, filling
        `cache` (an empty one) or, pointed at a span, writing into it and attending over it."""
        if not (self.graphs and ids.is_cuda):
            return self._cached_logits(ids, start, cache)
        try:
            return self._fill(ids, start, cache) if cache.start is None else self._span(ids, start, cache)
        except RuntimeError as error:
            self._no_graphs(error)
            return self._cached_logits(ids, start, cache)

    def predict_masked(self, ids: Tensor, start: int, mask: Tensor, positions: Tensor) -> Tensor:
        """WINO's forward (core/wino.py), eagerly for now."""
        return self.model.predict_masked(ids, start, mask, positions)

    def _cached_logits(self, ids: Tensor, start: int, cache: KVCache, positions: Tensor | None = None) -> Tensor:
        layer = self.layer if cache.start is None else self.span_layer
        return self.model(ids, logits_start=start, cache=cache, positions=positions, layer=layer)

    def _fill(self, ids: Tensor, start: int, cache: KVCache) -> Tensor:
        key = (tuple(ids.shape), ids.dtype, ids.device, start)
        if self._filling is None or self._filling[0] != key:
            self._filling, self._spans = None, {}  # another run shape: free the last one's graphs first
            self._pool = torch.cuda.graph_pool_handle()
            kept = KVCache(self.config.n_layers)  # its keys and values: tensors of the graph's
            captured = CapturedForward(lambda batch: self._cached_logits(batch, start, kept), ids, pool=self._pool)
            self._filling = (key, captured, kept)
        _, captured, kept = self._filling
        logits = captured.run(ids)
        cache.share(kept)
        return logits

    def _span(self, ids: Tensor, start: int, cache: KVCache) -> Tensor:
        positions = torch.arange(cache.start, cache.start + ids.shape[1], device=ids.device)
        kept = None if self._filling is None else self._filling[2]
        if kept is None or cache.layers[0].keys is not kept.layers[0].keys:
            return self._cached_logits(ids, start, cache)  # filled elsewhere: not this path's graphs' memory
        key = (tuple(ids.shape), ids.dtype, start)
        if key not in self._spans:
            with blas_library("cublaslt"):
                self._spans[key] = CapturedForward(
                    lambda batch, where: self._cached_logits(batch, start, kept.at(cache.start), where),
                    ids,
                    positions,
                    pool=self._pool,
                )
        return self._spans[key].run(ids, positions)

    def _no_graphs(self, error: RuntimeError) -> None:
        warnings.warn(f"CUDA graph capture failed, running eagerly: {error}", stacklevel=3)
        self.graphs = False
        self._captured, self._filling, self._spans = None, None, {}
