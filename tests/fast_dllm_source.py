"""Fast-dLLM's LLaDA samplers (shared/SAMPLERS.md), restated plainly over whole rows, for the parity tests.

Each returns the final tokens, the number of forwards, and per forward the sorted positions each
row committed (relative to the first generated token). `count` runs past the schedule's end only
in the cached samplers, where the source would fail; there it commits nothing (our definition).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from sampler_models import MASK_ID

from llada_tui.core.kv_cache import KVCache


def get_transfer_index(logits, temperature, remasking, mask_index, x, counts, threshold):
    """x0 and the commits over one forward's rows [B, R]; counts[row] (None with a threshold)."""
    batch = x.shape[0]
    if temperature > 0:
        logits64 = logits.to(torch.float64)
        noisy = logits64.exp() / (-torch.log(torch.rand_like(logits64, dtype=torch.float64))) ** temperature
    else:
        noisy = logits
    x0 = noisy.argmax(dim=-1)
    if remasking == "low_confidence":
        x0_p = F.softmax(logits.to(torch.float64), dim=-1).gather(-1, x0[..., None])[..., 0]
    else:
        x0_p = torch.rand((batch, x.shape[1]))
    x0 = torch.where(mask_index, x0, x)
    confidence = torch.where(mask_index, x0_p, -math.inf)
    transfer = torch.zeros_like(mask_index)
    for row in range(batch):
        k = int(mask_index[row].sum()) if threshold is not None else counts[row]
        _, chosen = torch.topk(confidence[row], k)
        transfer[row, chosen] = True
        if threshold is not None:
            for n in range(1, k):
                if confidence[row, chosen[n]] < threshold:
                    transfer[row, chosen[n]] = False
    return x0, transfer


def schedule(masked_counts, block_steps, i):
    """The reference's count for step i of a block, per row; 0 past the schedule's end."""
    if i >= block_steps:
        return [0] * len(masked_counts)
    return [m // block_steps + (1 if i < m % block_steps else 0) for m in masked_counts]


def start(prompt, gen_length, mask_id):
    x = torch.full((prompt.shape[0], prompt.shape[1] + gen_length), mask_id, dtype=torch.long)
    x[:, : prompt.shape[1]] = prompt
    return x


def commits_of(transfer, offset):
    return [sorted((torch.nonzero(row)[:, 0] + offset).tolist()) for row in transfer]


def generate(
    model,
    prompt,
    steps,
    gen_length,
    block_length,
    temperature=0.0,
    remasking="low_confidence",
    threshold=None,
    mask_id=MASK_ID,
):
    """`generate`: per block, full forwards until the block has no mask."""
    x, prompt_len = start(prompt, gen_length, mask_id), prompt.shape[1]
    block_steps = steps // (gen_length // block_length)
    nfe, commits = 0, []
    for block_start in range(prompt_len, x.shape[1], block_length):
        block_end = block_start + block_length
        m = (x[:, block_start:block_end] == mask_id).sum(dim=1).tolist()
        i = 0
        while True:
            nfe += 1
            mask_index = x == mask_id
            logits = model(x)
            mask_index[:, block_end:] = False
            x0, transfer = get_transfer_index(
                logits, temperature, remasking, mask_index, x, schedule(m, block_steps, i), threshold
            )
            x[transfer] = x0[transfer]
            commits.append(commits_of(transfer, -prompt_len))
            i += 1
            if (x[:, block_start:block_end] == mask_id).sum() == 0:
                break
    return x, nfe, commits


def generate_cached(
    model,
    prompt,
    steps,
    gen_length,
    block_length,
    temperature=0.0,
    remasking="low_confidence",
    threshold=None,
    cache="prefix",
    mask_id=MASK_ID,
):
    """`generate_with_prefix_cache` / `generate_with_dual_cache`: per block, a full forward that fills
    the cache, then cached forwards (at least one) over the block and the rest (prefix) or the block
    (dual) until the block has no mask."""
    x, prompt_len = start(prompt, gen_length, mask_id), prompt.shape[1]
    block_steps = steps // (gen_length // block_length)
    nfe, commits = 0, []
    for block_start in range(prompt_len, x.shape[1], block_length):
        block_end = block_start + block_length
        m = (x[:, block_start:block_end] == mask_id).sum(dim=1).tolist()
        kept = KVCache(model.config.n_layers)
        nfe += 1
        mask_index = x == mask_id
        logits = model(x, cache=kept)
        mask_index[:, block_end:] = False
        x0, transfer = get_transfer_index(
            logits, temperature, remasking, mask_index, x, schedule(m, block_steps, 0), threshold
        )
        x[transfer] = x0[transfer]
        commits.append(commits_of(transfer, -prompt_len))
        i = 1
        while True:
            nfe += 1
            row = x[:, block_start:] if cache == "prefix" else x[:, block_start:block_end]  # a view of x
            mask_index = row == mask_id
            mask_index[:, block_length:] = False
            logits = model(row, cache=kept.at(block_start))
            x0, transfer = get_transfer_index(
                logits, temperature, remasking, mask_index, row, schedule(m, block_steps, i), threshold
            )
            row[transfer] = x0[transfer]
            commits.append(commits_of(transfer, block_start - prompt_len))
            if (x[:, block_start:block_end] == mask_id).sum() == 0:
                break
            i += 1
    return x, nfe, commits
