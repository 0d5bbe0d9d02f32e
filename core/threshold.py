"""Fast-dLLM's confidence-threshold sampler (NVlabs/Fast-dLLM, llada/generate.py: `generate`), step for step.

Per block, until the block has no mask left: one forward of the whole sequence, then
  - every masked position up to the block's end gets x0, the argmax of its logits (Gumbel-noised
    as the reference at temperature > 0), and a confidence: the float64 softmax of its un-noised
    logits at x0 (remasking "random": a random score);
  - they are ranked with torch.topk over the whole row, k = the number of masked positions;
  - with a threshold, the first is committed, and each other one whose confidence >= threshold;
    without one, the first `count` are, `count` from the reference's schedule (so `steps`
    matters only then, and the sampler commits as many per step as the reference).
Steps per block therefore vary (1 .. block_length); every forward is a step. The source has no
classifier-free guidance and no EOS options, and neither has this. Random numbers are drawn in
the source's order over the source's shapes.
"""

from __future__ import annotations

import torch
from torch import Tensor

from llada_tui.core.predictor import Predictor
from llada_tui.core.sampler import add_gumbel_noise, check_arguments, initial_sequence, num_transfer_tokens
from llada_tui.core.step_capture import Recorder, StepCapture


@torch.no_grad()
def generate_threshold(
    model: Predictor,
    prompt: Tensor,
    steps: int = 128,
    gen_length: int = 128,
    block_length: int = 128,
    temperature: float = 0.0,
    remasking: str = "low_confidence",
    mask_id: int = 126336,
    threshold: float | None = None,
    *,
    recorder: Recorder | None = None,
    topk: int = 5,
) -> tuple[Tensor, int]:
    """Sample `gen_length` tokens after `prompt` [B, P]; returns ([B, P + gen_length] ids, forwards run).

    `recorder` (batch of one only) gets one Step per forward, as with the reference sampler.
    """
    check_arguments(prompt, None, steps, gen_length, block_length, temperature, 0.0, remasking, topk)
    check_threshold(threshold)
    prompt_len = prompt.shape[1]
    capture = StepCapture.of_run(recorder, topk, prompt)
    if bool((prompt == mask_id).any()):
        raise ValueError("the threshold sampler does not fill mask tokens inside the prompt")

    x = initial_sequence(prompt, gen_length, mask_id)
    schedule = num_transfer_tokens(block_length, steps // (gen_length // block_length))
    forwards = 0
    for block, block_start in enumerate(range(prompt_len, x.shape[1], block_length)):
        block_end = block_start + block_length
        step_in_block = 0
        while bool((x[:, block_start:block_end] == mask_id).any()):
            masked = x == mask_id  # [B, L]
            logits = model.predict(x, prompt_len)  # [B, G, V]
            forwards += 1
            block_logits = logits[:, block_start - prompt_len : block_end - prompt_len]  # [B, n, V]
            count = None if threshold is not None else schedule[step_in_block]
            x0, transfer = transfer_step(
                block_logits,
                x.shape[1],
                block_start,
                masked[:, block_start:block_end],
                temperature,
                remasking,
                threshold,
                count,
            )
            x[:, block_start:block_end] = torch.where(transfer, x0, x[:, block_start:block_end])
            if capture is not None:
                offset = block_start - prompt_len
                rows = masked[0, block_start:]
                capture.capture(block, offset, logits[0, offset:], rows, transfer[0], x0[0], forward="full")
            step_in_block += 1
    if capture is not None:
        capture.finish()
    return x, forwards


def check_threshold(threshold: float | None) -> None:
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be between 0 and 1, got {threshold}")


def transfer_step(
    logits: Tensor,
    row_length: int,
    offset: int,
    masked: Tensor,
    temperature: float,
    remasking: str,
    threshold: float | None,
    count: int | None,
) -> tuple[Tensor, Tensor]:
    """One step of the source's `get_transfer_index`, for the block: its predictions and what it commits.

    logits [B, n, V] are the block's, at `offset` in the row of `row_length` positions the source's
    forward returned (its random draws and its ranking cover that whole row); masked [B, n] is the
    block's mask. Returns x0 [B, n] and the commits [B, n] (bool): torch.topk over the row's
    confidences (-inf where not masked), k = the masked count; then the first `count`, or the
    first and every further one at or above the threshold.
    """
    batch, n, _ = logits.shape
    x0 = add_gumbel_noise(logits, temperature, row_length, offset).argmax(dim=-1)  # [B, n]
    if remasking == "random":
        confidence = torch.rand((batch, row_length), device=logits.device)[:, offset : offset + n]
    else:
        probs = torch.softmax(logits.to(torch.float64), dim=-1)
        confidence = torch.gather(probs, -1, x0.unsqueeze(-1)).squeeze(-1)
    ranked = torch.full((batch, row_length), -torch.inf, dtype=confidence.dtype, device=logits.device)
    ranked[:, offset : offset + n] = torch.where(masked, confidence, -torch.inf)
    transfer = torch.zeros((batch, row_length), dtype=torch.bool, device=logits.device)
    for row in range(batch):
        k = int(masked[row].sum())
        if count is not None:
            k = min(k, count)
        if k == 0:
            continue  # this row's block is done (another row's is not), or the schedule has run out
        values, indices = torch.topk(ranked[row], k)
        keep = torch.ones_like(values, dtype=torch.bool) if threshold is None else values >= threshold
        keep[0] = True
        transfer[row, indices[keep]] = True
    return x0, transfer[:, offset : offset + n]
