"""LLaDA's reference sampler (generate.py in ML-GSAI/LLaDA), step for step.

`generate` takes the reference's arguments and returns the same tensor: on CPU in float32, with
the same seed, it commits the same tokens at the same steps, drawing its random numbers in the
same order over the same shapes. The reference's quirks are kept (see shared/LLADA.md):
  - with confidence_eos_eot_inf, EOS and EOT lose their confidence at temperature 0, but only
    EOT does at temperature > 0;
  - mask tokens inside the prompt are filled in as well (they compete from the first block on).
It differs only where the reference fails: cfg_scale > 0 without an attention mask works.

The model is a Predictor (core/predictor.py). A recorder, if given, sees one Step per step,
through a StepCapture (core/step_capture.py), in order, before `generate` returns; without one
nothing extra is computed. A batch of prompts of one length may be sampled at once, each row
with its own recorder and its own random generator: seeded as a single run seeds torch, each
row then draws what that run draws, over the same shapes (core/batch_recording.py). The
model's head covers the whole generated region either way (the recorder wants every position's
candidates), so a run computes the same logits with or without a recorder.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from llada_tui.core.options import SamplingOptions, check_options
from llada_tui.core.predictor import Predictor
from llada_tui.core.step_capture import Recorder, StepCapture


class StopSampling(Exception):
    """Raised by a recorder to stop sampling after the step it was given.

    `generate` lets it propagate unchanged (it returns nothing), so the caller that asked for
    the stop catches it; every step before it has been recorded.
    """


@torch.no_grad()
def generate(
    model: Predictor,
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
    row_recorders: Sequence[Recorder] | None = None,
    generators: Sequence[torch.Generator] | None = None,
) -> Tensor:
    """Sample `gen_length` tokens after `prompt` [B, P]; returns [B, P + gen_length] token ids.

    The sequence lives on `prompt`'s device. `recorder` (batch of one only) is called after
    every step with a `Step`; `topk` candidates per still-masked position go with it (0: none).
    A recorder may raise StopSampling to end sampling; it propagates out of `generate`.
    For a batch: `row_recorders`, one per row, instead of `recorder`; `generators`, one per row,
    draw each row's random numbers (default: torch's global generator, as the reference).
    """
    check_arguments(prompt, attention_mask, steps, gen_length, block_length, temperature, cfg_scale, remasking, topk)
    batch, prompt_len = prompt.shape
    captures = row_captures(recorder, row_recorders, topk, prompt)
    if generators is not None and len(generators) != batch:
        raise ValueError(f"{len(generators)} generators for a batch of {batch}")
    # The reference fills mask tokens inside the prompt too: then those compete from the first block on.
    fills_prompt = bool((prompt == mask_id).any())
    if captures and fills_prompt:
        raise ValueError("cannot record a prompt that contains mask tokens (only the answer is traced)")

    x = initial_sequence(prompt, gen_length, mask_id)
    prompt_index = x != mask_id  # [B, L], what the unconditional cfg row masks out
    if attention_mask is not None:
        ones = torch.ones((batch, gen_length), dtype=attention_mask.dtype, device=attention_mask.device)
        attention_mask = torch.cat([attention_mask, ones], dim=-1)
    head = 0 if fills_prompt else prompt_len  # the first position the model predicts

    steps_per_block = steps // (gen_length // block_length)
    for block, block_start in enumerate(range(prompt_len, x.shape[1], block_length)):
        # The positions this block's steps may commit; the block starts fully masked.
        open_ = slice(0 if fills_prompt else block_start, block_start + block_length)
        for count in num_transfer_tokens(block_length, steps_per_block):
            masked = x == mask_id  # [B, L]
            logits = model_logits(model, x, attention_mask, head, cfg_scale, prompt_index, mask_id)  # [B, L - head, V]
            if logits_eos_inf:
                logits[:, :, eos_id] = -torch.inf
            x0, x0_p = predictions(
                logits[:, open_.start - head : open_.stop - head],
                temperature,
                remasking,
                x.shape[1],
                open_.start,
                banned=(eos_id, eot_id) if confidence_eos_eot_inf else None,
                generators=generators,
            )
            transfer = most_confident(x0_p, masked, open_, count)
            x[:, open_] = torch.where(transfer[:, open_], x0, x[:, open_])
            rows = slice(block_start, None)
            offset = block_start - prompt_len
            for row, capture in enumerate(captures):
                capture.capture(block, offset, logits[row, offset:], masked[row, rows], transfer[row, rows], x0[row])
    for capture in captures:
        capture.finish()
    return x


def row_captures(
    recorder: Recorder | None, row_recorders: Sequence[Recorder] | None, topk: int, prompt: Tensor
) -> list[StepCapture]:
    """The step capture of each row that is recorded: the one row's, or every row's of a batch."""
    if row_recorders is None:
        capture = StepCapture.of_run(recorder, topk, prompt)
        return [] if capture is None else [capture]
    if recorder is not None or len(row_recorders) != prompt.shape[0]:
        raise ValueError(f"a batch of {prompt.shape[0]} is recorded by as many row recorders, and no recorder")
    return [StepCapture(row_recorder, topk, prompt.device) for row_recorder in row_recorders]


def initial_sequence(prompt: Tensor, gen_length: int, mask_id: int) -> Tensor:
    """The prompt [B, P] followed by gen_length mask tokens: [B, P + gen_length]."""
    x = torch.full((prompt.shape[0], prompt.shape[1] + gen_length), mask_id, dtype=torch.long, device=prompt.device)
    x[:, : prompt.shape[1]] = prompt
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
    model: Predictor,
    x: Tensor,
    attention_mask: Tensor | None,
    start: int,
    cfg_scale: float,
    prompt_index: Tensor,
    mask_id: int,
) -> Tensor:
    """Logits of positions start.. of x [B, L]: [B, L - start, V], with classifier-free guidance."""
    if cfg_scale <= 0:
        return model.predict(x, start, attention_mask)
    unconditional = torch.where(prompt_index, mask_id, x)  # (not a masked assignment: that waits for the GPU)
    both_masks = None if attention_mask is None else torch.cat([attention_mask, attention_mask])
    conditional, unconditional_logits = model.predict(torch.cat([x, unconditional]), start, both_masks).chunk(2)
    return unconditional_logits + (cfg_scale + 1) * (conditional - unconditional_logits)


def predictions(
    logits: Tensor,
    temperature: float,
    remasking: str,
    seq_len: int,
    offset: int,
    banned: tuple[int, int] | None = None,
    generators: Sequence[torch.Generator] | None = None,
) -> tuple[Tensor, Tensor]:
    """The predicted tokens x0 [B, n] of logits [B, n, V] (positions offset.. of seq_len), and how sure
    the sampler is of each: its probability, or a random score with remasking "random".

    banned = (eos_id, eot_id), the reference's confidence_eos_eot_inf: the confidence is computed
    with EOT's logit at -inf, and EOS's too at temperature 0 (where the reference's noisy logits
    are the logits themselves). `logits` is left as it is. generators: one per row (default: torch's).
    """
    noisy = add_gumbel_noise(logits, temperature, seq_len, offset, generators)  # logits itself at temperature 0
    x0 = noisy.argmax(dim=-1)
    if remasking == "random":
        scores = uniform((x0.shape[0], seq_len), torch.float32, x0.device, generators)
        return x0, scores[:, offset : offset + x0.shape[1]]
    if banned is not None:
        eos_id, eot_id = banned
        logits = logits.clone()
        logits[:, :, eot_id] = -torch.inf
        if temperature == 0:
            logits[:, :, eos_id] = -torch.inf
    probs = F.softmax(logits, dim=-1)
    return x0, torch.gather(probs, -1, x0.unsqueeze(-1)).squeeze(-1)


def most_confident(confidence: Tensor, masked: Tensor, open_: slice, count: int) -> Tensor:
    """[B, L] bool: the `count` masked positions of the open region with the highest confidence [B, n].

    Ranked over the whole sequence, as in the reference, so that topk breaks ties the same way.
    """
    ranked = torch.full(masked.shape, -torch.inf, dtype=confidence.dtype, device=masked.device)
    ranked[:, open_] = torch.where(masked[:, open_], confidence, -torch.inf)
    transfer = torch.zeros_like(masked)
    for row in range(masked.shape[0]):  # one row at a time, as the reference does, so ties break alike
        # (index_fill_, not `transfer[row, indices] = True`: that copies True to the GPU and waits)
        transfer[row].index_fill_(0, torch.topk(ranked[row], k=count).indices, True)
    return transfer


def add_gumbel_noise(
    logits: Tensor,
    temperature: float,
    seq_len: int,
    offset: int | None = None,
    generators: Sequence[torch.Generator] | None = None,
) -> Tensor:
    """Gumbel-max sampling in float64: exp(logits) / (-log u)^temperature, u ~ U(0, 1).

    `logits` [B, N, V] are positions offset..offset+N of seq_len (default: the last N). u is
    drawn for all seq_len positions, as the reference draws it over its whole logits tensor, so
    the random stream stays the same; with `generators`, each row's from its own.
    """
    if temperature == 0:
        return logits
    batch, n, vocab = logits.shape
    offset = seq_len - n if offset is None else offset
    noise = uniform((batch, seq_len, vocab), torch.float64, logits.device, generators)[:, offset : offset + n]
    return logits.to(torch.float64).exp() / (-torch.log(noise)) ** temperature


def uniform(
    shape: tuple[int, ...], dtype: torch.dtype, device: torch.device, generators: Sequence[torch.Generator] | None
) -> Tensor:
    """U(0, 1) of `shape` [B, ...]: from torch's generator, or row b from generators[b] (each
    drawing [1, ...], as a single run of that row draws from torch's)."""
    if generators is None:
        return torch.rand(shape, dtype=dtype, device=device)
    row = (1, *shape[1:])
    return torch.cat([torch.rand(row, dtype=dtype, device=device, generator=generator) for generator in generators])
