"""WINO's revising sampler (Feng-Hong/WINO-DLLM, LLaDA/decoding.py: `decoding_wino`), step for step.

The sequence gets a "shadow" block of mask tokens after the answer, carrying the current block's
rotary positions, under an attention mask where no real position sees the shadow and each shadow
position sees everything except its own twin in the block. So one forward both drafts and
verifies: a real masked position's prediction proposes a token, and a shadow position's
probability of its twin's current token says how well the rest of the sequence still supports a
token already written. Per forward, within the block:
  - commit every masked position whose confidence (float64 softmax at x0, x0 Gumbel-noised as the
    reference) is > threshold: at most max_accept = min(max(int(0.7 x masked), 5), 20) of them,
    the most confident, and at least the single most confident one;
  - if it committed more than one, re-mask the decoded positions (decoded before this forward)
    whose shadow confidence is < threshold_back; if at least last_accept (the previous forward's
    commit count, 30 at a block's start) would be, only the last_accept - 1 least confident.
A block ends when it has no mask left; every forward is a step. Batch of one, as the source.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor

from llada_tui.core.sampler import add_gumbel_noise, check_arguments
from llada_tui.core.step_capture import Recorder, StepCapture

FIRST_LAST_ACCEPT = 30  # the source's last_accept before a block's first forward


class MaskedPredictor(Protocol):
    def predict_masked(self, ids: Tensor, start: int, mask: Tensor, positions: Tensor) -> Tensor:
        """Logits of positions start.. of ids [B, L], attending as `mask` allows, at rotary `positions` [L]."""
        ...


@torch.no_grad()
def generate_wino(
    model: MaskedPredictor,
    prompt: Tensor,
    gen_length: int = 128,
    block_length: int = 128,
    temperature: float = 0.0,
    mask_id: int = 126336,
    threshold: float = 0.6,
    threshold_back: float = 0.9,
    *,
    recorder: Recorder | None = None,
    topk: int = 5,
) -> tuple[Tensor, int]:
    """Sample `gen_length` tokens after `prompt` [1, P]; returns ([1, P + gen_length] ids, forwards run).

    A recorder gets one Step per forward: commits and re-masks (the mask id as the new token, the
    shadow confidence of the token it replaced as its confidence), and candidates for the
    positions masked before the step, and, for the block's decoded ones, the shadow's guesses.
    """
    check_arguments(prompt, None, gen_length, gen_length, block_length, temperature, 0.0, "low_confidence", topk)
    for name, value in (("threshold", threshold), ("threshold_back", threshold_back)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be between 0 and 1, got {value}")
    if prompt.shape[0] != 1:
        raise ValueError(f"WINO samples one sequence at a time; got a batch of {prompt.shape[0]} prompts")
    if bool((prompt == mask_id).any()):
        raise ValueError("WINO does not fill mask tokens inside the prompt")

    prompt_len = prompt.shape[1]
    answer_end = prompt_len + gen_length
    device = prompt.device
    x = torch.full((answer_end + block_length,), mask_id, dtype=torch.long, device=device)  # answer, then shadow
    x[:prompt_len] = prompt[0]
    shadow = slice(answer_end, answer_end + block_length)
    capture = StepCapture.of_run(recorder, topk, prompt)
    forwards = 0
    for block, block_start in enumerate(range(prompt_len, answer_end, block_length)):
        block_end = block_start + block_length
        twins = slice(block_start, block_end)
        positions = torch.cat(
            [torch.arange(answer_end, device=device), torch.arange(block_start, block_end, device=device)]
        )
        attention = shadow_attention(answer_end, block_start, block_length, device)
        masked = torch.zeros_like(x, dtype=torch.bool)  # the source tracks it: commits clear it, re-masks set it
        masked[:block_end] = x[:block_end] == mask_id
        decoded = ~masked[twins]  # [B]: block positions whose shadow judges them
        last_accept = FIRST_LAST_ACCEPT
        while bool(masked.any()):
            max_accept = min(max(int(int(masked.sum()) * 0.7), 5), 20)
            logits = model.predict_masked(x[None], prompt_len, attention, positions)[0]  # [G + B, V]
            forwards += 1
            rows = slice(prompt_len, None)  # what the logits cover
            x0 = torch.zeros_like(x)
            x0[rows] = add_gumbel_noise(logits[None], temperature, len(x), prompt_len).argmax(dim=-1)[0]
            x0[shadow] = torch.where(decoded, x[twins], x0[shadow])  # the shadow judges the token written
            x0_p = torch.zeros(len(x), dtype=torch.float64, device=device)
            x0_p[rows] = torch.softmax(logits.to(torch.float64), dim=-1).gather(-1, x0[rows, None])[:, 0]
            x0 = torch.where(masked, x0, x)
            confidence = torch.where(masked, x0_p, -torch.inf)
            confidence_back = torch.full_like(confidence, torch.inf)
            confidence_back[shadow] = torch.where(decoded, x0_p[shadow], torch.inf)

            commit = accepted(confidence, threshold, max_accept)
            candidates = masked.clone()  # before this step
            candidates[twins] |= decoded
            x = torch.where(commit, x0, x)
            accepted_count = int(commit.sum())
            remask = torch.zeros_like(decoded)
            if accepted_count > 1:
                remask = rejected(confidence_back, threshold_back, last_accept)[shadow]
            x[twins] = torch.where(remask, mask_id, x[twins])
            masked &= ~commit
            masked[twins] |= remask
            if capture is not None:
                record_step(
                    capture, block, block_start, prompt_len, logits, x0, x0_p, confidence_back, commit, remask,
                    candidates, decoded, mask_id,
                )  # fmt: skip
            decoded = (decoded | commit[twins]) & ~remask
            last_accept = accepted_count
    if capture is not None:
        capture.finish()
    return x[None, :answer_end], forwards


def shadow_attention(answer_end: int, block_start: int, block_length: int, device: torch.device) -> Tensor:
    """[1, 1, L, L] bool (True = may attend): nothing sees the shadow but the shadow, which sees
    everything except each position its own twin."""
    length = answer_end + block_length
    attention = torch.ones(length, length, dtype=torch.bool, device=device)
    attention[:, answer_end:] = False
    attention[answer_end:, answer_end:] = True
    attention[answer_end:, block_start : block_start + block_length] = ~torch.eye(
        block_length, dtype=torch.bool, device=device
    )
    return attention[None, None]


def accepted(confidence: Tensor, threshold: float, max_accept: int) -> Tensor:
    """The source's commit rule: above the threshold, at most the max_accept most confident, at least one."""
    commit = confidence > threshold
    if int(commit.sum()) > max_accept:
        commit = torch.zeros_like(commit)
        commit[torch.topk(confidence, k=max_accept).indices] = True
    elif not bool(commit.any()):
        commit[torch.argmax(confidence)] = True
    return commit


def rejected(confidence_back: Tensor, threshold_back: float, last_accept: int) -> Tensor:
    """The source's re-mask rule: below threshold_back, but at most last_accept - 1 (the least
    confident) when at least last_accept would be."""
    remask = confidence_back < threshold_back
    if int(remask.sum()) >= last_accept:
        remask = torch.zeros_like(remask)
        remask[torch.topk(confidence_back, k=last_accept - 1, largest=False).indices] = True
    return remask


def record_step(
    capture: StepCapture,
    block: int,
    block_start: int,
    prompt_len: int,
    logits: Tensor,
    x0: Tensor,
    x0_p: Tensor,
    confidence_back: Tensor,
    commit: Tensor,
    remask: Tensor,
    candidates: Tensor,
    decoded: Tensor,
    mask_id: int,
) -> None:
    """The step, for the answer's positions block_start..: a decoded block position's logits (and so
    its candidates) are its shadow's, what the model now thinks of the token it holds."""
    block_length = len(decoded)
    answer_end = len(x0) - block_length
    real = logits[block_start - prompt_len : answer_end - prompt_len]  # [R, V]
    block_rows = torch.where(decoded[:, None], logits[answer_end - prompt_len :], real[:block_length])
    rows = torch.cat([block_rows, real[block_length:]])
    twins = slice(block_start, block_start + block_length)
    changed = commit[block_start:answer_end].clone()
    changed[:block_length] |= remask
    new_ids = torch.where(remask, mask_id, x0[twins])
    confidences = torch.where(remask, confidence_back[answer_end:], x0_p[twins])
    offset = block_start - prompt_len
    capture.capture(block, offset, rows, candidates[block_start:answer_end], changed, new_ids, confidences, "full")
