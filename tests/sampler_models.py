"""A tiny float32 LLaDA whose softmax outputs are peaked and varied: the samplers' parity tests run on it."""

from __future__ import annotations

import math

import torch

from llada_tui.core.config import LLaDAConfig
from llada_tui.core.llada import LLaDAModel

VOCAB = 64
MASK_ID = VOCAB - 1


def peaked_model(seed: int = 0) -> LLaDAModel:
    config = LLaDAConfig(d_model=32, n_layers=2, n_heads=4, vocab_size=VOCAB, mlp_hidden_size=64)
    llada = LLaDAModel(config).eval()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in llada.named_parameters():
            if param.ndim == 1:
                param.copy_(1.0 + 0.1 * torch.randn(param.shape, generator=generator))
            elif name.endswith("wte.weight"):
                param.copy_(torch.randn(param.shape, generator=generator))
            else:
                gain = 3.0 if name == "model.transformer.ff_out.weight" else 1.0
                param.copy_(torch.randn(param.shape, generator=generator) * gain / math.sqrt(param.shape[1]))
        llada.transformer.ff_out.weight[MASK_ID] = 0.0  # like a trained model, never predict the mask
    return llada
