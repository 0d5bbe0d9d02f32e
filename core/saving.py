"""A checkpoint folder in the official LLaDA layout, written: what core/loading.py reads.

The runtime only reads checkpoints; this writes them for the code that makes one: the tests'
tiny checkpoint, the demo model's training and the GPU benchmarks' LLaDA-8B-shaped checkpoint.
The files are those of a Hub snapshot of GSAI-ML/LLaDA-8B-Instruct: config.json, the weights
(model.safetensors, or shards with model.safetensors.index.json), tokenizer.json,
tokenizer_config.json (special tokens, chat template). sampling.json, a checkpoint's default
lengths, is a choice made after evaluation and written by hand (core/demo/sampling.json).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer

from llada_tui.core.config import LLaDAConfig
from llada_tui.core.llada import LLaDAModel


def save_checkpoint(
    folder: str | Path,
    config: LLaDAConfig,
    state: Mapping[str, torch.Tensor],
    tokenizer: Tokenizer,
    chat_template: str,
    *,
    shards: int = 1,
    config_extra: Mapping[str, Any] | None = None,
    tokenizer_extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write the whole checkpoint into `folder` (made if missing); return it.

    `state` holds the official tensor names, in one dtype, which config.json's torch_dtype
    names. `shards` > 1 splits the tensors into that many files in name order. The extras are
    merged into config.json and tokenizer_config.json.
    """
    folder = Path(folder)
    _save_weights(folder, config, state, shards=shards, config_extra=config_extra)
    save_tokenizer(folder, tokenizer, chat_template, max_length=config.max_sequence_length, extra=tokenizer_extra)
    return folder


def _save_weights(
    folder: Path,
    config: LLaDAConfig,
    state: Mapping[str, torch.Tensor],
    *,
    shards: int = 1,
    config_extra: Mapping[str, Any] | None = None,
) -> None:
    """config.json and the safetensors files (the tokenizer files left as they are)."""
    folder.mkdir(parents=True, exist_ok=True)
    dtypes = {tensor.dtype for tensor in state.values()}
    if len(dtypes) != 1:
        raise ValueError(f"the weights must share one dtype, not {sorted(map(str, dtypes))}")
    dtype = str(dtypes.pop()).removeprefix("torch.")
    config_json = {**config.to_json_dict(), "torch_dtype": dtype, **(config_extra or {})}
    (folder / "config.json").write_text(json.dumps(config_json, indent=2) + "\n")

    state = {name: tensor.detach().to("cpu").contiguous() for name, tensor in state.items()}
    if shards == 1:
        save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
        return
    names = list(state)
    per_shard = math.ceil(len(names) / shards)
    weight_map = {}
    for k in range(shards):
        file = f"model-{k + 1:05d}-of-{shards:05d}.safetensors"
        shard = {name: state[name] for name in names[k * per_shard : (k + 1) * per_shard]}
        save_file(shard, folder / file, metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(shard, file))
    total = sum(t.numel() * t.element_size() for t in state.values())
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))


def save_tokenizer(
    folder: Path, tokenizer: Tokenizer, chat_template: str, *, max_length: int, extra: Mapping[str, Any] | None = None
) -> None:
    """tokenizer.json and a tokenizer_config.json naming LLaDA's special tokens and the chat template.

    added_tokens_decoder lists the tokenizer's special tokens by id, as transformers writes it.
    """
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(folder / "tokenizer.json"))
    special = {i: token.content for i, token in sorted(tokenizer.get_added_tokens_decoder().items()) if token.special}
    tokenizer_config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>",
        "chat_template": chat_template,
        "added_tokens_decoder": {str(i): {"content": content, "special": True} for i, content in special.items()},
        "model_max_length": max_length,
        "clean_up_tokenization_spaces": False,
        **(extra or {}),
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2) + "\n")


def random_state_dict(
    config: LLaDAConfig,
    seed: int,
    *,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
) -> dict[str, torch.Tensor]:
    """Random weights under the official names, scaled so that activations stay near unit size
    and the logits are far from flat (a sampler then has clear choices to make and record)."""
    with torch.device("meta"):  # names and shapes only: LLaDA-8B's would not fit in float32 on the host
        shapes = {name: param.shape for name, param in LLaDAModel(config).state_dict().items()}
    generator = torch.Generator(device).manual_seed(seed)
    state = {}
    for name, shape in shapes.items():
        value = torch.randn(shape, generator=generator, dtype=dtype, device=device)
        if len(shape) == 1:  # norm weights: near one, but not exactly (so that tests see them)
            value = 1.0 + 0.1 * value
        elif not name.endswith("wte.weight"):
            gain = 3.0 if name == "model.transformer.ff_out.weight" else 1.0
            value = value * (gain / math.sqrt(shape[1]))
        state[name] = value.contiguous()
    if config.weight_tying:  # the tied head reads the embedding: make it spread the logits too
        state["model.transformer.wte.weight"] *= 3.0 / math.sqrt(config.d_model)
    return state
