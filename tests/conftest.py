"""Shared fixtures: a tiny random LLaDA checkpoint and what loads from it.

Session-scoped (built once per test run, about a second); treat them as read-only.

- `tiny_checkpoint` -> Path: a folder in the official LLaDA layout (see tiny_checkpoint.py):
  2 layers, d_model 64, 4 heads, mlp 128, a 384-token byte-level BPE tokenizer with LLaDA's
  special tokens (their ids are the last ones, not LLaDA-8B's), random float32 weights whose
  logits are far from flat. Its remote-code files must never run: `tiny_checkpoint / SENTINEL`
  would appear if they did.
- `tiny_model` -> LLaDAModel: that checkpoint loaded with `load_model`, float32 on CPU, eval.
- `tiny_tokenizer` -> LLaDATokenizer: its tokenizer (`mask_id`, `eos_id`, `eot_id`, `bos_id`,
  `apply_chat_template`, `encode`, `decode`, `token_text`).

For other shapes (GQA, weight tying, shards), call `write_tiny_checkpoint(tmp_path, ...)`
from tiny_checkpoint.py in the test itself.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tiny_checkpoint import write_tiny_checkpoint  # imports torch: only for tests that need it

    return write_tiny_checkpoint(tmp_path_factory.mktemp("tiny-llada"))


@pytest.fixture(scope="session")
def tiny_model(tiny_checkpoint: Path):
    from llada_tui.core.loading import load_model

    return load_model(tiny_checkpoint)


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_checkpoint: Path):
    from llada_tui.core.tokenizer import load_tokenizer

    return load_tokenizer(tiny_checkpoint)
