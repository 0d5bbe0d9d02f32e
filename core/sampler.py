"""LLaDA's reference sampler (generate.py in ML-GSAI/LLaDA), step for step, with a step recorder.

`generate` takes the reference's arguments and returns the same tensor: on CPU in float32, with
the same seed, it commits the same tokens at the same steps, drawing its random numbers in the
same order over the same shapes. The reference's quirks are kept (see shared/LLADA.md):
  - with confidence_eos_eot_inf, EOS and EOT lose their confidence at temperature 0, but only
    EOT does at temperature > 0;
  - mask tokens inside the prompt are filled in as well (they compete from the first block on).
It differs only where the reference fails: cfg_scale > 0 without an attention mask works.

Attention masks: our LLaDAModel ignores them, as the official model effectively does (LLaDA was
trained without padding masks). A HF-style model (output with `.logits`) gets the mask exactly
as the reference passes it.

A recorder, if given, sees one `Step` per step. Everything it needs is gathered on the device
and copied to the host in one transfer per step; without a recorder nothing extra is computed.
On a GPU nothing in a step waits for the device: the copy is asynchronous and the recorder gets
step s once step s + 1 has been queued, so the GPU never idles while a record is written. Every
step still reaches the recorder, in order, before `generate` returns.

Predictions are made only where a step can commit: the current block (and masked prompt
positions); a recorder also gets the later blocks' top-k candidates. The model's head covers the
whole generated region either way, so a run computes the same logits with or without a recorder.
"""

from __future__ import annotations

import math
import time
from array import array
from collections import deque
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from llada_tui.core.fast import FastLLaDA
from llada_tui.core.llada import LLaDAModel
from llada_tui.core.options import SamplingOptions, check_options
from llada_tui.core.records import Candidates, Step

Recorder = Callable[[Step], None]


class StopSampling(Exception):
    """Raised by a recorder to stop sampling after the step it was given.

    `generate` lets it propagate unchanged (it returns nothing), so the caller that asked for
    the stop catches it; every step before it has been recorded.
    """


@torch.no_grad()
def generate(
    model: Callable[..., object],
    prompt: Tensor,
    attention_mask: Tensor | None = None,
    steps: int = 128,
    gen_length: int = 128,
    block_length: int = 128,
    temperature: float = 0.0,
    cfg_scale: float = 0.0,
    remasking: str = "low_confidence",
    mask_id: int = 126336,
    logits_eos_inf: bool = False,
    confidence_eos_eot_inf: bool = False,
    *,
    eos_id: int = 126081,
    eot_id: int = 126348,
    recorder: Recorder | None = None,
    topk: int = 5,
) -> Tensor:
    """Sample `gen_length` tokens after `prompt` [B, P]; returns [B, P + gen_length] token ids.

    `model` is a LLaDAModel, a FastLLaDA, or any model whose output has `.logits` (e.g. the official one).
    The sequence lives on `prompt`'s device. `recorder` (batch of one only) is called after
    every step with a `Step`; `topk` candidates per still-masked position go with it (0: none).
    A recorder may raise StopSampling to end sampling; it propagates out of `generate`.
    """
    check_arguments(prompt, attention_mask, steps, gen_length, block_length, temperature, cfg_scale, remasking, topk)
    batch, prompt_len = prompt.shape
    if recorder is not None and batch != 1:
        raise ValueError(f"recording follows one sequence; got a batch of {batch} prompts")

    x = torch.full((batch, prompt_len + gen_length), mask_id, dtype=torch.long, device=prompt.device)
    x[:, :prompt_len] = prompt
    prompt_index = x != mask_id  # [B, L], what the unconditional cfg row masks out
    if attention_mask is not None:
        ones = torch.ones((batch, gen_length), dtype=attention_mask.dtype, device=attention_mask.device)
        attention_mask = torch.cat([attention_mask, ones], dim=-1)

    # The model's head only has to cover positions that can be masked: the generated region,
    # or the whole sequence when the prompt itself holds mask tokens (the reference fills those).
    start = 0 if bool((prompt == mask_id).any()) else prompt_len
    if recorder is not None and start < prompt_len:
        raise ValueError("cannot record a prompt that contains mask tokens (only the answer is traced)")

    length = prompt_len + gen_length
    num_blocks = gen_length // block_length
    steps_per_block = steps // num_blocks
    in_flight: deque[PendingStep] = deque()  # records copied to the host, not yet given to the recorder
    step_index = 0
    for block in range(num_blocks):
        block_start, block_end = prompt_len + block * block_length, prompt_len + (block + 1) * block_length
        # Predictions matter in [first, block_end); a recorder also wants the candidates after it.
        first = start if start < prompt_len else block_start
        last = length if recorder is not None else block_end
        # Nothing after a block is committed before it, so each block starts fully masked.
        for count in num_transfer_tokens(block_length, steps_per_block):
            timer = StepTimer(x.device)
            masked = x == mask_id  # [B, L]
            logits = model_logits(model, x, attention_mask, start, cfg_scale, prompt_index, mask_id)
            if logits_eos_inf:
                logits[:, :, eos_id] = -torch.inf
            logits = logits[:, first - start : last - start]  # [B, N, V], positions first..last
            probs = F.softmax(logits, dim=-1) if recorder is not None else None  # before the quirk below
            # Only positions first..block_end can be committed: the rest are recorded, not chosen from.
            choosable = logits[:, : block_end - first]  # [B, n, V]
            noisy = add_gumbel_noise(choosable, temperature, length, first)  # choosable itself at temperature 0
            x0 = noisy.argmax(dim=-1)  # [B, n]
            if confidence_eos_eot_inf:
                # The reference's quirk, kept: at temperature 0 `noisy` is `choosable`, so both EOS
                # and EOT lose their confidence; otherwise only EOT does.
                noisy[:, :, eos_id] = choosable[:, :, eot_id] = -torch.inf
            probs_for_confidence = None if confidence_eos_eot_inf or probs is None else probs[:, : block_end - first]
            x0_p = x0_confidence(choosable, x0, remasking, length, probs_for_confidence, offset=first)

            # Over the whole sequence, as in the reference, so that topk breaks ties the same way.
            confidence = torch.full(x.shape, -torch.inf, dtype=x0_p.dtype, device=x.device)  # [B, L]
            region = slice(first, block_end)
            confidence[:, region] = torch.where(masked[:, region], x0_p, -torch.inf)
            transfer = torch.zeros_like(masked)
            for row in range(batch):  # one row at a time, as the reference does, so ties break alike
                # (index_fill_, not `transfer[row, indices] = True`: that copies True to the GPU and waits)
                transfer[row].index_fill_(0, torch.topk(confidence[row], k=count).indices, True)
            x[:, region] = torch.where(transfer[:, region], x0, x[:, region])

            if recorder is not None:  # here first == block_start: earlier blocks are done, not recorded
                rows = slice(block_start, length)
                packed = pack_step(transfer[0, rows], masked[0, rows], x0[0], probs[0], topk)
                in_flight.append(PendingStep(step_index, block, block_start - prompt_len, packed, timer))
                while len(in_flight) > record_lag(x.device):
                    recorder(in_flight.popleft().finish())
            step_index += 1
    while in_flight:
        recorder(in_flight.popleft().finish())
    return x


def check_arguments(
    prompt: Tensor,
    attention_mask: Tensor | None,
    steps: int,
    gen_length: int,
    block_length: int,
    temperature: float,
    cfg_scale: float,
    remasking: str,
    topk: int,
) -> None:
    """Raise ValueError, with a one-line message, for arguments the sampler cannot run with."""
    if prompt.dim() != 2 or prompt.dtype.is_floating_point or prompt.dtype.is_complex:
        raise ValueError(f"prompt must be a [batch, length] tensor of token ids, got {tuple(prompt.shape)}")
    if prompt.shape[0] == 0 or prompt.shape[1] == 0:
        raise ValueError("the prompt is empty")
    if attention_mask is not None and attention_mask.shape != prompt.shape:
        raise ValueError(
            f"attention_mask {tuple(attention_mask.shape)} must have the prompt's shape {tuple(prompt.shape)}"
        )
    numbers = SamplingOptions(
        steps=steps,
        gen_length=gen_length,
        block_length=block_length,
        temperature=temperature,
        cfg_scale=cfg_scale,
        remasking=remasking,
        topk=topk,
    )
    check_options(numbers)  # the CLI's checks, so that both refuse the same values with the same words


def num_transfer_tokens(masked: int, steps: int) -> list[int]:
    """Tokens committed by each of a block's steps: masked // steps, one more in the first masked % steps."""
    base, extra = divmod(masked, steps)
    return [base + 1] * extra + [base] * (steps - extra)


def model_logits(
    model: Callable[..., object],
    x: Tensor,
    attention_mask: Tensor | None,
    start: int,
    cfg_scale: float,
    prompt_index: Tensor,
    mask_id: int,
) -> Tensor:
    """Logits of positions start.. of x [B, L]: [B, L - start, V], with classifier-free guidance."""
    if cfg_scale <= 0:
        return forward(model, x, attention_mask, start)
    unconditional = torch.where(prompt_index, mask_id, x)  # (not a masked assignment: that waits for the GPU)
    both_masks = None if attention_mask is None else torch.cat([attention_mask, attention_mask])
    conditional, unconditional_logits = forward(model, torch.cat([x, unconditional]), both_masks, start).chunk(2)
    return unconditional_logits + (cfg_scale + 1) * (conditional - unconditional_logits)


def forward(model: Callable[..., object], ids: Tensor, attention_mask: Tensor | None, start: int) -> Tensor:
    if isinstance(model, (LLaDAModel, FastLLaDA)):
        return model(ids, logits_start=start)  # ignores attention masks, like the official model
    return model(ids, attention_mask=attention_mask).logits[:, start:]


def add_gumbel_noise(logits: Tensor, temperature: float, seq_len: int, offset: int | None = None) -> Tensor:
    """Gumbel-max sampling in float64: exp(logits) / (-log u)^temperature, u ~ U(0, 1).

    `logits` [B, N, V] are positions offset..offset+N of seq_len (default: the last N). u is
    drawn for all seq_len positions, as the reference draws it over its whole logits tensor, so
    the random stream stays the same.
    """
    if temperature == 0:
        return logits
    batch, n, vocab = logits.shape
    offset = seq_len - n if offset is None else offset
    noise = torch.rand((batch, seq_len, vocab), dtype=torch.float64, device=logits.device)[:, offset : offset + n]
    return logits.to(torch.float64).exp() / (-torch.log(noise)) ** temperature


def x0_confidence(
    logits: Tensor,
    x0: Tensor,
    remasking: str,
    seq_len: int,
    probs: Tensor | None = None,
    offset: int | None = None,
) -> Tensor:
    """How sure the sampler is of each prediction x0 [B, N]: its probability, or a random score.

    `probs`, if given, is softmax(logits) already computed. Random scores are drawn for all
    seq_len positions, as the reference does, and positions offset..offset+N kept (default: the last N).
    """
    if remasking == "random":
        n = x0.shape[1]
        offset = seq_len - n if offset is None else offset
        return torch.rand((x0.shape[0], seq_len), device=x0.device)[:, offset : offset + n]
    if probs is None:
        probs = F.softmax(logits, dim=-1)
    return torch.gather(probs, -1, x0.unsqueeze(-1)).squeeze(-1)


# ---------------------------------------------------------------------------- recording


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


def pack_step(changed: Tensor, masked: Tensor, x0: Tensor, probs: Tensor, topk: int) -> Tensor:
    """One step's record as one float64 tensor [R, 4 + 2k] on the device (exact for ids and probabilities).

    changed, masked: [R] bool, what this step committed and what was masked before it;
    probs: [R, V] softmax of this step's (un-noised) logits; x0: [n] predictions of the first n
    rows, the ones a step can commit (the columns of id and confidence are 0 after them).
    """
    k = min(topk, probs.shape[-1])
    chosen = torch.gather(probs[: len(x0)], -1, x0.unsqueeze(-1)).squeeze(-1)
    padding = (0, len(changed) - len(x0))
    columns = [changed, masked, F.pad(x0, padding), F.pad(chosen, padding)]
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

    def __init__(self, index: int, block: int, offset: int, packed: Tensor, timer: StepTimer):
        self.index, self.block, self.offset, self.timer = index, block, offset, timer
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
        return unpack_step(self.index, self.block, self.host.numpy(), self.offset, self.k, wall_ms)


def unpack_step(index: int, block: int, rows: np.ndarray, offset: int, k: int, wall_ms: float) -> Step:
    """A Step from pack_step's rows [R, 4 + 2k]; row r is generated position offset + r."""
    committed = np.flatnonzero(rows[:, 0])
    candidates = None
    if k:
        still_masked = np.flatnonzero(rows[:, 1])
        candidates = Candidates(
            positions=int32(still_masked + offset),
            ids=int32(rows[still_masked, 4 : 4 + k]),
            probs=float32(rows[still_masked, 4 + k :]),
            k=k,
        )
    return Step(
        index=index,
        block=block,
        positions=int32(committed + offset),
        ids=int32(rows[committed, 2]),
        confidences=float32(rows[committed, 3]),
        wall_ms=wall_ms,
        candidates=candidates,
    )


def int32(values: np.ndarray) -> array:
    return array("i", np.ascontiguousarray(values, dtype=np.int32).tobytes())


def float32(values: np.ndarray) -> array:
    return array("f", np.ascontiguousarray(values, dtype=np.float32).tobytes())
