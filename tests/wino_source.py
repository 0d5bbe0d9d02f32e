"""WINO's decoding_wino (shared/SAMPLERS.md), restated plainly over the whole extended row, for the parity tests."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from sampler_models import MASK_ID


def wino_source(
    model, prompt, gen_length, block_length, temperature=0.0, threshold=0.6, threshold_back=0.9, mask_id=MASK_ID
):
    """decoding_wino, point by point, over the whole extended row (prompt, answer, shadow block).

    Returns the answer, the number of forwards and per forward (committed, re-masked) positions,
    relative to the first generated token.
    """
    P, B = prompt.shape[1], block_length
    real = P + gen_length
    x = torch.full((1, real + B), mask_id, dtype=torch.long)
    x[:, :P] = prompt
    forwards, changes = 0, []
    for start in range(P, real, B):
        end = start + B
        mask_index = x == mask_id
        mask_index[:, end:] = False
        judged = torch.zeros_like(mask_index)  # shadow positions whose twin is decoded
        judged[:, -B:] = ~mask_index[:, start:end]
        position_ids = torch.cat([torch.arange(real), torch.arange(start, end)])
        attention = torch.ones(1, 1, real + B, real + B, dtype=torch.bool)
        attention[:, :, :, -B:] = False
        attention[:, :, -B:, -B:] = True
        attention[:, :, -B:, start:end] = ~torch.eye(B, dtype=torch.bool)
        last_accept = 30
        while mask_index.any():
            max_accept = min(max(int(mask_index.sum() * 0.7), 5), 20)
            logits = model(x, mask=attention, positions=position_ids)
            forwards += 1
            if temperature > 0:
                logits64 = logits.to(torch.float64)
                noisy = logits64.exp() / (-torch.log(torch.rand_like(logits64, dtype=torch.float64))) ** temperature
            else:
                noisy = logits
            x0 = noisy.argmax(dim=-1)
            twin_of_judged = torch.zeros_like(judged)
            twin_of_judged[:, start:end] = judged[:, -B:]
            x0[judged] = x[twin_of_judged]
            x0_p = F.softmax(logits.to(torch.float64), dim=-1).gather(-1, x0[..., None])[..., 0]
            x0 = torch.where(mask_index, x0, x)
            confidence = torch.where(mask_index, x0_p, -math.inf)
            confidence_back = torch.where(judged, x0_p, math.inf)
            transfer = confidence > threshold
            if transfer.sum() > max_accept:
                _, top = torch.topk(confidence, k=max_accept)
                transfer = torch.zeros_like(transfer)
                transfer.view(-1)[top] = True
            elif not transfer.any():
                transfer.view(-1)[torch.argmax(confidence)] = True
            x[transfer] = x0[transfer]
            accepted = int(transfer.sum())
            remask = torch.zeros_like(transfer)
            if accepted > 1:
                remask = confidence_back < threshold_back
                if remask.sum() >= last_accept:
                    _, low = torch.topk(confidence_back.view(-1), k=last_accept - 1, largest=False)
                    remask = torch.zeros_like(remask)
                    remask.view(-1)[low] = True
            remask_twins = torch.zeros_like(remask)
            remask_twins[:, start:end] = remask[:, -B:]
            x[remask_twins] = mask_id
            mask_index[transfer] = False
            mask_index[remask_twins] = True
            transfer_shadows = torch.zeros_like(transfer)
            transfer_shadows[:, -B:] = transfer[:, start:end]
            judged[transfer_shadows] = True
            judged[remask] = False
            last_accept = accepted
            changes.append(
                (
                    (torch.nonzero(transfer[0])[:, 0] - P).tolist(),
                    (torch.nonzero(remask_twins[0])[:, 0] - P).tolist(),
                )
            )
    return x[:, :real], forwards, changes
