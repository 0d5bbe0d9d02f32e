"""Fast-dLLM's cached samplers (NVlabs/Fast-dLLM, llada/generate.py: `generate_with_prefix_cache`,
`generate_with_dual_cache`), step for step, with or without a confidence threshold.

Per block:
  1. one full forward of the whole sequence, which fills a KVCache (core/kv_cache.py) and
     commits in the block exactly as the threshold sampler does (core/threshold.py);
  2. then, at least once and until the block has no mask left, a forward with the cache:
     - prefix: over the block and everything after it, attending over the cached keys and
       values of the positions before the block;
     - dual: over the block alone, attending over the cached ones before and after it;
     committing in the block as in 1 (the confidences ranked over the row the forward returned).
The cached keys and values are the block start's: later commits outside the forward's span are
not seen until the next block. That makes these samplers approximations of the uncached one;
their traces say so. Every forward is a step, including a cached one that finds the block full
(the source runs it and counts it). Without a threshold, the step counts follow the reference's
schedule; a forward past its end commits nothing (the source indexes past it and fails there).
No step waits for the GPU: the commits are chosen on the device (`commits`), and without a
threshold the forwards per block are known from the schedule; with one, whether the block is full
is read back between steps (the loop's condition, as in the source).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import torch
from torch import Tensor

from llada_tui.core.config import LLaDAConfig
from llada_tui.core.kv_cache import KVCache
from llada_tui.core.sampler import (
    add_gumbel_noise,
    check_arguments,
    initial_sequence,
    num_transfer_tokens,
    row_captures,
    uniform,
)
from llada_tui.core.step_capture import Recorder
from llada_tui.core.threshold import check_threshold

CACHES = ("prefix", "dual")


class CachingPredictor(Protocol):
    config: LLaDAConfig

    def predict_cached(self, ids: Tensor, start: int, cache: KVCache) -> Tensor:
        """Logits of positions start.. of ids, filling `cache` or (pointed at a span) reading it."""
        ...


@torch.no_grad()
def generate_cached(
    model: CachingPredictor,
    prompt: Tensor,
    steps: int = 128,
    gen_length: int = 128,
    block_length: int = 128,
    temperature: float = 0.0,
    remasking: str = "low_confidence",
    mask_id: int = 126336,
    threshold: float | None = None,
    cache: str = "prefix",
    *,
    recorder: Recorder | None = None,
    topk: int = 5,
    row_recorders: Sequence[Recorder] | None = None,
    generators: Sequence[torch.Generator] | None = None,
) -> tuple[Tensor, int]:
    """Sample `gen_length` tokens after `prompt` [B, P]; returns ([B, P + gen_length] ids, forwards run).

    `recorder` (batch of one only) gets one Step per forward. A cached step's candidates cover the
    positions its forward predicts: the block and everything after it (prefix), the block (dual).
    A batch without a threshold takes the same forwards in every row; `row_recorders` and
    `generators` are then one per row, as for core/sampler.py's generate.
    """
    check_arguments(prompt, None, steps, gen_length, block_length, temperature, 0.0, remasking, topk)
    check_threshold(threshold)
    if cache not in CACHES:
        raise ValueError(f"unknown cache {cache!r}; use prefix or dual")
    prompt_len = prompt.shape[1]
    captures = row_captures(recorder, row_recorders, topk, prompt)
    if row_recorders is not None and threshold is not None:
        raise ValueError("with a threshold the rows of a batch would take different forwards: record them one by one")
    if bool((prompt == mask_id).any()):
        raise ValueError("the cached samplers do not fill mask tokens inside the prompt")

    x = initial_sequence(prompt, gen_length, mask_id)
    length = x.shape[1]
    schedule = num_transfer_tokens(block_length, steps // (gen_length // block_length))
    forwards = 0
    for block, block_start in enumerate(range(prompt_len, length, block_length)):
        block_end = block_start + block_length
        span_end = length if cache == "prefix" else block_end  # what a cached forward covers
        kept = KVCache(model.config.n_layers)
        step_in_block = 0
        # The full forward, then at least one cached one, then cached ones while the block has masks.
        while step_in_block < 2 or block_has_masks(
            x[:, block_start:block_end], mask_id, schedule, threshold, step_in_block
        ):
            masked = x[:, block_start:] == mask_id  # [B, L - block_start]: the block first
            if step_in_block == 0:
                # Logits from the prompt's end in every block: one shape, so one CUDA graph on the fast path.
                logits = model.predict_cached(x, prompt_len, kept)[:, block_start - prompt_len :]
                row_length, offset = length, block_start
            else:
                logits = model.predict_cached(x[:, block_start:span_end], 0, kept.at(block_start))
                row_length, offset = span_end - block_start, 0
            forwards += 1
            count = None
            if threshold is None:
                count = schedule[step_in_block] if step_in_block < len(schedule) else 0
            x0, transfer = commits(
                logits[:, :block_length],
                row_length,
                offset,
                masked[:, :block_length],
                temperature,
                remasking,
                threshold,
                count,
                generators,
            )
            x[:, block_start:block_end] = torch.where(transfer, x0, x[:, block_start:block_end])
            forward = "full" if step_in_block == 0 else "cached"
            for row, capture in enumerate(captures):
                predicted = masked[row, : logits.shape[1]]
                capture.capture(
                    block, block_start - prompt_len, logits[row], predicted, transfer[row], x0[row], forward=forward
                )
            step_in_block += 1
    for capture in captures:
        capture.finish()
    return x, forwards


def block_has_masks(block: Tensor, mask_id: int, schedule: list[int], threshold: float | None, step: int) -> bool:
    """Whether the block [B, n] still has a mask after `step` forwards. Without a threshold every step
    commits its scheduled count, so the answer is known without asking the GPU (and waiting for it)."""
    if threshold is None:
        return step < len(schedule)
    return bool((block == mask_id).any())


def commits(
    logits: Tensor,
    row_length: int,
    offset: int,
    masked: Tensor,
    temperature: float,
    remasking: str,
    threshold: float | None,
    count: int | None,
    generators: Sequence[torch.Generator] | None = None,
) -> tuple[Tensor, Tensor]:
    """The block's predictions x0 [B, n] and commits [B, n] (bool): what core/threshold.py's
    transfer_step chooses, computed on the device without waiting for it (no counts read back).

    logits [B, n, V] are the block's, at `offset` in the row of `row_length` positions the forward
    returned (the random draws cover that row, as the source's); masked [B, n] is the block's mask.
    Without a threshold the `count` most confident masked positions are committed (the schedule
    never asks for more than are masked); with one, every masked position at or above it and the
    most confident one. Among exactly equal confidences the choice may differ from torch.topk's
    over the whole row (which is unspecified there too).
    """
    batch, n, _ = logits.shape
    x0 = add_gumbel_noise(logits, temperature, row_length, offset, generators).argmax(dim=-1)  # [B, n]
    if remasking == "random":
        confidence = uniform((batch, row_length), torch.float32, logits.device, generators)[:, offset : offset + n]
    else:
        probs = torch.softmax(logits.to(torch.float64), dim=-1)
        confidence = torch.gather(probs, -1, x0.unsqueeze(-1)).squeeze(-1)
    ranked = confidence.masked_fill(~masked, -torch.inf)
    if threshold is None:
        chosen = torch.zeros_like(masked)
        if count:
            chosen.scatter_(-1, ranked.topk(min(count, n), dim=-1).indices, True)
    else:
        chosen = ranked >= threshold
        chosen.scatter_(-1, ranked.argmax(dim=-1, keepdim=True), True)
    return x0, chosen & masked
