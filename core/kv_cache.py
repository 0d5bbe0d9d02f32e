"""Keys and values kept from one full forward, for Fast-dLLM's prefix and dual caches.

At a block's start a sampler runs the whole sequence once with an empty KVCache, which keeps
every layer's keys and values (after rotary, before grouped heads are repeated). A later forward
over positions [start, end) only, `KVCache.at(start)`, computes those positions' keys and values
afresh, writes them into the kept ones in place, and attends over all of them: the prefix cache
passes the block and everything after it, the dual cache the block alone. Everywhere else the
keys are from the block's start, so they do not see later commits: that is the approximation
these caches make. Writing in place (rather than joining copies) keeps every tensor at one
address from step to step, which is what a CUDA graph of the cached forward needs (core/fast.py);
a span's own keys are rewritten by each forward over it, so the old ones are never read again.
"""

from __future__ import annotations

from torch import Tensor


class LayerCache:
    def __init__(self) -> None:
        self.keys: Tensor | None = None  # [B, Hkv, T, D]: the whole sequence's
        self.values: Tensor | None = None
        self.positions: Tensor | None = None  # [L]: where a span forward's keys go; None: fill

    def attend(self, keys: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
        """The keys and values a forward attends over, given its own [B, Hkv, L, D]."""
        if self.positions is None:
            self.keys, self.values = keys.contiguous(), values.contiguous()
        else:
            self.keys.index_copy_(2, self.positions, keys)
            self.values.index_copy_(2, self.positions, values)
        return self.keys, self.values


class KVCache:
    """Every layer's LayerCache; empty (filling) until `at` points it at a span of positions."""

    def __init__(self, n_layers: int):
        self.layers = [LayerCache() for _ in range(n_layers)]
        self.start: int | None = None  # where a span forward's positions begin; None: the next forward fills

    @property
    def length(self) -> int:
        """The positions kept (the filling forward's length)."""
        return self.layers[0].keys.shape[2]

    def at(self, start: int) -> KVCache:
        """Forwards from now on cover positions start.. of the cached sequence; returns self."""
        if self.layers[0].keys is None:
            raise ValueError("the cache is empty: run a full forward with it first")
        self.start = start
        return self

    def place(self, positions: Tensor) -> None:
        """The positions [L] (on the device) of the span forward about to run."""
        for layer in self.layers:
            layer.positions = positions

    def share(self, other: KVCache) -> None:
        """Hold `other`'s keys and values (the same tensors, not copies)."""
        for mine, theirs in zip(self.layers, other.layers):
            mine.keys, mine.values = theirs.keys, theirs.values
