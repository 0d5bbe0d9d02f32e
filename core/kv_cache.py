"""Keys and values kept from one full forward, for Fast-dLLM's prefix and dual caches.

At a block's start a sampler runs the whole sequence once with an empty KVCache, which keeps
every layer's keys and values (after rotary, before grouped heads are repeated). A later forward
over positions [start, end) only, `KVCache.at(start)`, computes those positions' keys and values
afresh and attends over the kept ones everywhere else: the prefix cache passes the block and
everything after it, the dual cache the block alone. The kept keys are from the block's start,
so they do not see later commits: that is the approximation these caches make.
"""

from __future__ import annotations

import torch
from torch import Tensor


class LayerCache:
    def __init__(self) -> None:
        self.keys: Tensor | None = None  # [B, Hkv, T, D]
        self.values: Tensor | None = None
        self.start: int | None = None  # None: the next forward fills the cache

    def attend(self, keys: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
        """The keys and values a forward attends over, given its own [B, Hkv, L, D]."""
        if self.start is None:
            self.keys, self.values = keys, values
            return keys, values
        end = self.start + keys.shape[2]
        return (
            torch.cat([self.keys[:, :, : self.start], keys, self.keys[:, :, end:]], dim=2),
            torch.cat([self.values[:, :, : self.start], values, self.values[:, :, end:]], dim=2),
        )


class KVCache:
    """Every layer's LayerCache; empty (filling) until `at` points it at a span of positions."""

    def __init__(self, n_layers: int):
        self.layers = [LayerCache() for _ in range(n_layers)]

    @property
    def start(self) -> int:
        """Where the next forward's positions begin (0 while filling)."""
        return self.layers[0].start or 0

    def at(self, start: int) -> KVCache:
        """Forwards from now on cover positions start.. of the cached sequence; returns self."""
        if self.layers[0].keys is None:
            raise ValueError("the cache is empty: run a full forward with it first")
        for layer in self.layers:
            layer.start = start
        return self
