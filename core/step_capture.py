"""A sampler's steps, captured for a recorder: packing, top-k candidates, the copy to the host, the lag.

A sampler calls `StepCapture.capture` once per step with what the step saw and did, on the
device; everything a Step holds is gathered there into one tensor and copied to the host in one
transfer. On a GPU nothing waits for the device: the copy is asynchronous and the recorder gets
step s once step s + 1 has been queued, so the GPU never idles while a record is written.
`finish` hands over the steps still on their way, in order.
"""

from __future__ import annotations

import math
import time
from array import array
from collections import deque
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from llada_tui.core.records import Candidates, Step

Recorder = Callable[[Step], None]


class StepCapture:
    """Steps for `recorder`, each with `topk` candidates per position the step predicted for (0: none)."""

    @classmethod
    def of_run(cls, recorder: Recorder | None, topk: int, prompt: Tensor) -> StepCapture | None:
        """The capture of a run of `prompt` [B, P], or None without a recorder (which follows one sequence)."""
        if recorder is None:
            return None
        if prompt.shape[0] != 1:
            raise ValueError(f"recording follows one sequence; got a batch of {prompt.shape[0]} prompts")
        return cls(recorder, topk, prompt.device)

    def __init__(self, recorder: Recorder, topk: int, device: torch.device):
        self.recorder, self.topk, self.device = recorder, topk, device
        self.lag = record_lag(device)
        self.in_flight: deque[PendingStep] = deque()  # copied to the host, not yet given to the recorder
        self.index = 0
        self.timer = StepTimer(device)

    def capture(
        self,
        block: int,
        offset: int,
        logits: Tensor,
        candidates: Tensor,
        changed: Tensor,
        new_ids: Tensor,
        confidences: Tensor | None = None,
        forward: str | None = None,
    ) -> None:
        """One step, for the generated positions offset.. (the current block's first).

        logits [R, V]: the step's logits of those positions (after any the sampler banned);
        candidates [R] bool: the positions whose top-k guesses are recorded (those masked before the
        step; a revising sampler adds the decoded ones it judged); changed [m <= R] bool: which of
        the first m positions the step changed (a later one never changes); new_ids [n <= R]: the
        new tokens of the first n positions; confidences [n]: what to record as each new token's
        confidence (default: its softmax probability under `logits`); forward: "full" or "cached",
        for samplers beyond the reference (None: not recorded). A recorder's StopSampling propagates from here.
        """
        changed = F.pad(changed, (0, len(candidates) - len(changed)))
        packed = pack_step(changed, candidates, new_ids, F.softmax(logits, dim=-1), self.topk, confidences)
        self.in_flight.append(PendingStep(self.index, block, offset, packed, self.timer, forward))
        self.index += 1
        self.timer = StepTimer(self.device)
        while len(self.in_flight) > self.lag:
            self.recorder(self.in_flight.popleft().finish())

    def finish(self) -> None:
        while self.in_flight:
            self.recorder(self.in_flight.popleft().finish())


def record_lag(device: torch.device) -> int:
    """Steps a record waits before the recorder sees it: one on a GPU (so it never waits for the
    copy), none on the CPU (where the copy is immediate and a lag would only delay the display)."""
    return 1 if device.type == "cuda" else 0


class StepTimer:
    """A step's duration: CUDA events on a GPU (the host runs ahead of it), the host clock otherwise."""

    def __init__(self, device: torch.device):
        self.started = time.perf_counter()
        self.events = None
        if device.type == "cuda":
            self.events = (torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
            self.events[0].record()

    def stop(self) -> None:
        if self.events is not None:
            self.events[1].record()
        else:
            self.ms = (time.perf_counter() - self.started) * 1000.0

    def elapsed_ms(self) -> float:
        """After stop(); on a GPU, waits for the step to finish."""
        if self.events is None:
            return self.ms
        self.events[1].synchronize()
        return self.events[0].elapsed_time(self.events[1])


def pack_step(
    changed: Tensor, candidates: Tensor, new_ids: Tensor, probs: Tensor, topk: int, confidences: Tensor | None = None
) -> Tensor:
    """One step's record as one float64 tensor [R, 4 + 2k] on the device (exact for ids and probabilities).

    changed, candidates: [R] bool (see StepCapture.capture); probs: [R, V] softmax of this step's
    (un-noised) logits; new_ids [n]: the new tokens of the first n rows, confidences [n] theirs
    (default: their probability); the columns of id and confidence are 0 after them.
    """
    k = min(topk, probs.shape[-1])
    if confidences is None:
        confidences = torch.gather(probs[: len(new_ids)], -1, new_ids.unsqueeze(-1)).squeeze(-1)
    padding = (0, len(changed) - len(new_ids))
    columns = [changed, candidates, F.pad(new_ids, padding), F.pad(confidences, padding)]
    packed = torch.stack([c.to(torch.float64) for c in columns], dim=-1)  # [R, 4]
    if k:
        values, ids = top_k(probs, k)
        packed = torch.cat([packed, ids.to(torch.float64), values.to(torch.float64)], dim=-1)
    return packed


def top_k(values: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """torch.topk(values, k) over the last dimension of [R, V], for rows as wide as a vocabulary.

    torch.topk's radix select reads a wide row several times; here the row is cut into chunks and
    one pass takes each chunk's maximum. The k largest values lie in the k chunks with the largest
    maxima (any value outside them has k larger or equal maxima above it), so a small topk over
    those chunks finishes the job. Same values in the same order; among equal values the index
    may differ from torch.topk's (whose choice there is unspecified too).
    """
    rows, vocab = values.shape
    width = chunk_width(vocab)
    if width == 1 or vocab // width <= k:
        return torch.topk(values, k, dim=-1)
    chunks = values.view(rows, vocab // width, width)
    best_chunks = chunks.amax(dim=-1).topk(k, dim=-1).indices  # [R, k]
    gathered = torch.gather(chunks, 1, best_chunks.unsqueeze(-1).expand(rows, k, width))  # [R, k, width]
    top = gathered.view(rows, k * width).topk(k, dim=-1)
    chunk = torch.gather(best_chunks, 1, top.indices // width)
    return top.values, chunk * width + top.indices % width


def chunk_width(vocab: int) -> int:
    """The divisor of `vocab` nearest its square root (LLaDA's 126464: 304, in 416 chunks)."""
    root = math.isqrt(vocab)
    return min((d for n in range(1, root + 1) if vocab % n == 0 for d in (n, vocab // n)), key=lambda d: abs(d - root))


class PendingStep:
    """A packed step on its way to the host; on a GPU the copy runs without waiting for it."""

    def __init__(self, index: int, block: int, offset: int, packed: Tensor, timer: StepTimer, forward: str | None):
        self.index, self.block, self.offset, self.timer, self.forward = index, block, offset, timer, forward
        self.k = (packed.shape[1] - 4) // 2
        if packed.is_cuda:
            self.host = torch.empty(packed.shape, dtype=packed.dtype, pin_memory=True)
            self.host.copy_(packed, non_blocking=True)
        else:
            self.host = packed
        timer.stop()

    def finish(self) -> Step:
        """The Step, once its copy has landed (waits for it)."""
        wall_ms = self.timer.elapsed_ms()
        step = unpack_step(self.index, self.block, self.host.numpy(), self.offset, self.k, wall_ms)
        return step if self.forward is None else replace(step, forward=self.forward)


def unpack_step(index: int, block: int, rows: np.ndarray, offset: int, k: int, wall_ms: float) -> Step:
    """A Step from pack_step's rows [R, 4 + 2k]; row r is generated position offset + r."""
    changed = np.flatnonzero(rows[:, 0])
    candidates = None
    if k:
        predicted = np.flatnonzero(rows[:, 1])
        candidates = Candidates(
            positions=int32(predicted + offset),
            ids=int32(rows[predicted, 4 : 4 + k]),
            probs=float32(rows[predicted, 4 + k :]),
            k=k,
        )
    return Step(
        index=index,
        block=block,
        positions=int32(changed + offset),
        ids=int32(rows[changed, 2]),
        confidences=float32(rows[changed, 3]),
        wall_ms=wall_ms,
        candidates=candidates,
    )


def int32(values: np.ndarray) -> array:
    return array("i", np.ascontiguousarray(values, dtype=np.int32).tobytes())


def float32(values: np.ndarray) -> array:
    return array("f", np.ascontiguousarray(values, dtype=np.float32).tobytes())
