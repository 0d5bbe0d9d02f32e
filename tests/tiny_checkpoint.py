"""A tiny random LLaDA checkpoint in the official layout, written by the tests themselves.

The folder holds what a Hub snapshot of GSAI-ML/LLaDA-8B-Instruct holds, at toy size:
config.json (official keys, an `auto_map` to remote code), model.safetensors or shards plus
model.safetensors.index.json, tokenizer.json, tokenizer_config.json (a LLaDA-style chat
template), and remote-code files that, if anything ever imported them, would leave a
`REMOTE_CODE_EXECUTED` file next to them and raise.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from llada_tui.core.config import LLaDAConfig
from llada_tui.core.saving import random_state_dict, save_checkpoint
from training.tokenizer import CHAT_TEMPLATE

SPECIAL_TOKENS = [
    "<|startoftext|>",
    "<|endoftext|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eot_id|>",
    "<|mdm_mask|>",
]
SENTINEL = "REMOTE_CODE_EXECUTED"
AUTO_MAP = {
    "AutoConfig": "configuration_llada.LLaDAConfig",
    "AutoModel": "modeling_llada.LLaDAModelLM",
    "AutoModelForCausalLM": "modeling_llada.LLaDAModelLM",
}
REMOTE_CODE = f"""# Written by the llada-tui tests: llada-tui must never import checkpoint code.
import pathlib

pathlib.Path(__file__).with_name({SENTINEL!r}).write_text(__name__)
raise RuntimeError("checkpoint code was executed")
"""
CORPUS = """\
The quick brown fox jumps over the lazy dog. A diffusion language model starts from a row of masks
and fills them in, a few tokens at a time, keeping the ones it is most sure about.
Once upon a time there was a small robot who liked to count: one, two, three, four, five, six,
seven, eight, nine, ten. Every morning it watched the sun rise over the hills and wrote a poem.
What is the capital of France? Paris is the capital of France, and Berlin is the capital of Germany.
Water boils at one hundred degrees. The moon goes around the earth, and the earth goes around the sun.
Please write a short story about a cat who learns to play the piano in the city at night.
Sure! Here is a story. The cat sat on the mat, looked at the keys, and pressed them gently.
"Hello, world!" said the program. It printed numbers: 0 1 2 3 4 5 6 7 8 9 and 42 and 2025.
Answer the question step by step. First, read it carefully; then think; finally, write the answer.
"""


@cache
def tiny_tokenizer_json(vocab_size: int = 384) -> str:
    """A byte-level BPE tokenizer trained on CORPUS, LLaDA's special tokens appended last."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - len(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(CORPUS.splitlines(keepends=True), trainer)
    tokenizer.add_special_tokens(SPECIAL_TOKENS)
    return tokenizer.to_str()


def write_tiny_checkpoint(
    path: str | Path,
    *,
    n_layers: int = 2,
    d_model: int = 64,
    n_heads: int = 4,
    n_kv_heads: int | None = None,
    mlp_hidden_size: int | None = None,
    vocab: int = 384,
    embedding_size: int | None = None,
    seed: int = 0,
    sharded: bool = False,
    weight_tying: bool = False,
) -> Path:
    """Write an official-layout LLaDA checkpoint with random weights into `path`; return it.

    `vocab` is the tokenizer's size (byte-level BPE, special tokens last); `embedding_size`
    may exceed it, as in checkpoints whose embedding table is padded. The special token ids
    come from the tokenizer and are written to config.json, as in the official checkpoints.
    """
    path = Path(path)
    tokenizer = Tokenizer.from_str(tiny_tokenizer_json(vocab))
    special = {token: tokenizer.token_to_id(token) for token in SPECIAL_TOKENS}

    config = LLaDAConfig(
        d_model=d_model,
        n_layers=n_layers,
        n_heads=n_heads,
        n_kv_heads=n_kv_heads,
        mlp_hidden_size=mlp_hidden_size or 2 * d_model,
        vocab_size=tokenizer.get_vocab_size(),
        embedding_size=embedding_size,
        max_sequence_length=512,
        rope_theta=500000.0,
        weight_tying=weight_tying,
        mask_token_id=special["<|mdm_mask|>"],
        eos_token_id=special["<|endoftext|>"],
        pad_token_id=special["<|endoftext|>"],
    )
    save_checkpoint(
        path,
        config,
        random_state_dict(config, seed),
        tokenizer,
        CHAT_TEMPLATE,
        shards=3 if sharded else 1,
        config_extra={"auto_map": AUTO_MAP, "use_cache": False},
        tokenizer_extra={"auto_map": {"AutoTokenizer": ["tokenization_llada.LLaDATokenizer", None]}},
    )
    (path / "special_tokens_map.json").write_text(
        json.dumps({"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>"})
    )
    for module in ("modeling_llada", "configuration_llada", "tokenization_llada"):
        (path / f"{module}.py").write_text(REMOTE_CODE)
    return path
