"""What a sampler needs of a model: the logits of a sequence's positions, through one method.

LLaDAModel (core/llada.py) and its GPU fast path FastLLaDA (core/fast.py) are predictors; a
Hugging Face-style model, such as the official LLaDAModelLM, becomes one through HubModel.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from torch import Tensor


class Predictor(Protocol):
    def predict(self, ids: Tensor, start: int, attention_mask: Tensor | None = None) -> Tensor:
        """Logits [B, L - start, V] of ids [B, L]: the predictions for positions start.. .

        attention_mask [B, L] is the reference sampler's (1 = a real token), passed on to models
        that use one. The logits may be overwritten by the next call (a CUDA graph's output).
        """
        ...


class HubModel:
    """A model whose output has `.logits` (the official modeling code), called as the reference calls it."""

    def __init__(self, model: Callable[..., Any]):
        self.model = model

    def predict(self, ids: Tensor, start: int, attention_mask: Tensor | None = None) -> Tensor:
        return self.model(ids, attention_mask=attention_mask).logits[:, start:]
