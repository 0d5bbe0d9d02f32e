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
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from llada_tui.core.llada import LLaDAModel
from llada_tui.core.trace import Candidates, Step

REMASKING = ("low_confidence", "random")

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

    `model` is a LLaDAModel or any model whose output has `.logits` (e.g. the official one).
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

    num_blocks = gen_length // block_length
    steps_per_block = steps // num_blocks
    step_index = 0
    for block in range(num_blocks):
        block_end = prompt_len + (block + 1) * block_length
        # Nothing after a block is committed before it, so each block starts fully masked.
        for count in num_transfer_tokens(block_length, steps_per_block):
            step_started = time.perf_counter()
            masked = x == mask_id  # [B, L]
            logits = model_logits(model, x, attention_mask, start, cfg_scale, prompt_index, mask_id)
            if logits_eos_inf:
                logits[:, :, eos_id] = -torch.inf
            noisy = add_gumbel_noise(logits, temperature, x.shape[1])  # logits itself at temperature 0
            x0 = noisy.argmax(dim=-1)  # [B, L - start]

            probs = F.softmax(logits, dim=-1) if recorder is not None else None  # before the quirk below
            if confidence_eos_eot_inf:
                # The reference's quirk, kept: at temperature 0 `noisy` is `logits`, so both EOS and
                # EOT lose their confidence; otherwise only EOT does.
                noisy[:, :, eos_id] = logits[:, :, eot_id] = -torch.inf
            x0_p = x0_confidence(logits, x0, remasking, x.shape[1], None if confidence_eos_eot_inf else probs)

            # Over the whole sequence, as in the reference, so that topk breaks ties the same way.
            confidence = torch.full(x.shape, -torch.inf, dtype=x0_p.dtype, device=x.device)  # [B, L]
            region = slice(start, block_end)
            confidence[:, region] = torch.where(masked[:, region], x0_p[:, : block_end - start], -torch.inf)
            transfer = torch.zeros_like(masked)
            for row in range(batch):  # one row at a time, as the reference does, so ties break alike
                transfer[row, torch.topk(confidence[row], k=count).indices] = True
            x[:, start:] = torch.where(transfer[:, start:], x0, x[:, start:])

            if recorder is not None:
                changed, was_masked = transfer[0, prompt_len:], masked[0, prompt_len:]
                recorder(record_step(step_index, block, step_started, changed, was_masked, x0[0], probs[0], topk))
            step_index += 1
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
    for name, value in (("steps", steps), ("gen_length", gen_length), ("block_length", block_length)):
        if value <= 0:
            raise ValueError(f"{name} must be positive, got {value}")
    if gen_length % block_length:
        raise ValueError(f"gen_length ({gen_length}) must be a multiple of block_length ({block_length})")
    num_blocks = gen_length // block_length
    if steps % num_blocks:
        raise ValueError(f"steps ({steps}) must be a multiple of the number of blocks ({num_blocks})")
    if steps > gen_length:
        raise ValueError(f"steps ({steps}) must not exceed gen_length ({gen_length})")
    if temperature < 0:
        raise ValueError(f"temperature must be 0 or more, got {temperature}")
    if cfg_scale < 0:
        raise ValueError(f"cfg_scale must be 0 or more, got {cfg_scale}")
    if remasking not in REMASKING:
        raise ValueError(f"unknown remasking {remasking!r}; choose one of {', '.join(REMASKING)}")
    if topk < 0:
        raise ValueError(f"topk must be 0 or more, got {topk}")


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
    unconditional = x.clone()
    unconditional[prompt_index] = mask_id
    both_masks = None if attention_mask is None else torch.cat([attention_mask, attention_mask])
    conditional, unconditional_logits = forward(model, torch.cat([x, unconditional]), both_masks, start).chunk(2)
    return unconditional_logits + (cfg_scale + 1) * (conditional - unconditional_logits)


def forward(model: Callable[..., object], ids: Tensor, attention_mask: Tensor | None, start: int) -> Tensor:
    if isinstance(model, LLaDAModel):
        return model(ids, logits_start=start)  # ignores attention masks, like the official model
    return model(ids, attention_mask=attention_mask).logits[:, start:]


def add_gumbel_noise(logits: Tensor, temperature: float, seq_len: int) -> Tensor:
    """Gumbel-max sampling in float64: exp(logits) / (-log u)^temperature, u ~ U(0, 1).

    `logits` [B, N, V] are the last N of seq_len positions. u is drawn for all of them, as the
    reference draws it over its whole logits tensor, so the random stream stays the same.
    """
    if temperature == 0:
        return logits
    batch, n, vocab = logits.shape
    noise = torch.rand((batch, seq_len, vocab), dtype=torch.float64, device=logits.device)[:, seq_len - n :]
    return logits.to(torch.float64).exp() / (-torch.log(noise)) ** temperature


def x0_confidence(logits: Tensor, x0: Tensor, remasking: str, seq_len: int, probs: Tensor | None = None) -> Tensor:
    """How sure the sampler is of each prediction x0 [B, N]: its probability, or a random score.

    `probs`, if given, is softmax(logits) already computed. Random scores are drawn for all
    seq_len positions, as the reference does, and the last N kept.
    """
    if remasking == "random":
        return torch.rand((x0.shape[0], seq_len), device=x0.device)[:, seq_len - x0.shape[1] :]
    if probs is None:
        probs = F.softmax(logits, dim=-1)
    return torch.gather(probs, -1, x0.unsqueeze(-1)).squeeze(-1)


# ---------------------------------------------------------------------------- recording


def record_step(
    index: int,
    block: int,
    started: float,
    changed: Tensor,
    masked: Tensor,
    x0: Tensor,
    probs: Tensor,
    topk: int,
) -> Step:
    """One step as a trace record, from the generated region of one sequence.

    changed, masked: [G] bool, what this step committed and what was masked before it;
    x0: [G] predictions; probs: [G, V] softmax of this step's (un-noised) logits.
    All of it travels to the host as one float64 tensor (exact for ids and probabilities).
    """
    k = min(topk, probs.shape[-1])
    columns = [changed, masked, x0, torch.gather(probs, -1, x0.unsqueeze(-1)).squeeze(-1)]
    packed = torch.stack([c.to(torch.float64) for c in columns], dim=-1)  # [G, 4]
    if k:
        top = torch.topk(probs, k, dim=-1)
        packed = torch.cat([packed, top.indices.to(torch.float64), top.values.to(torch.float64)], dim=-1)
    rows = packed.cpu().numpy()  # [G, 4 + 2k], the step's one host transfer
    wall_ms = (time.perf_counter() - started) * 1000.0

    committed = np.flatnonzero(rows[:, 0])
    candidates = None
    if k:
        still_masked = np.flatnonzero(rows[:, 1])
        candidates = Candidates(
            positions=int32(still_masked),
            ids=int32(rows[still_masked, 4 : 4 + k]),
            probs=float32(rows[still_masked, 4 + k :]),
            k=k,
        )
    return Step(
        index=index,
        block=block,
        positions=int32(committed),
        ids=int32(rows[committed, 2]),
        confidences=float32(rows[committed, 3]),
        wall_ms=wall_ms,
        candidates=candidates,
    )


def int32(values: np.ndarray) -> array:
    return array("i", np.ascontiguousarray(values, dtype=np.int32).tobytes())


def float32(values: np.ndarray) -> array:
    return array("f", np.ascontiguousarray(values, dtype=np.float32).tobytes())
