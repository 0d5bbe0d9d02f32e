"""The training set: demo_tasks examples as fixed-length rows of token ids.

A row is the chat prompt, then the reply, <|eot_id|> and <|endoftext|> padding up to SEQ_LEN,
as in LLaDA's SFT: the model learns where the reply ends by filling in the padding. Prompt and
reply are encoded separately, exactly as the sampler sees them (prompt ids, then generated ids).

Examples are drawn in chunks, each from its own seeded Random, by a pool of worker processes:
the same seed gives the same rows whatever the number of workers.
"""

from __future__ import annotations

import os
import random
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
from tokenizers import Tokenizer

from llada_tui.core import demo_tasks
from training.tokenizer import chat_prompt

PROMPT_LEN = 80  # longer prompts (only some random "anything else" ones) are skipped
RESPONSE_LEN = 64  # the default gen_length: the longest reply, its EOT and one EOS fit
SEQ_LEN = PROMPT_LEN + RESPONSE_LEN
CHUNK = 20_000


@dataclass
class EncodedSet:
    ids: np.ndarray  # [N, SEQ_LEN] int32
    prompt_len: np.ndarray  # [N] int32: the reply starts here
    task: np.ndarray  # [N] int8: index into demo_tasks.TASKS


def encode_examples(
    tokenizer: Tokenizer, examples: list[demo_tasks.Example], *, eot_id: int, eos_id: int
) -> EncodedSet:
    prompts = tokenizer.encode_batch([chat_prompt(e.prompt) for e in examples], add_special_tokens=False)
    replies = tokenizer.encode_batch([e.reply for e in examples], add_special_tokens=False)
    ids = np.full((len(examples), SEQ_LEN), eos_id, dtype=np.int32)
    prompt_len = np.zeros(len(examples), dtype=np.int32)
    task = np.zeros(len(examples), dtype=np.int8)
    kept = 0
    for example, prompt, reply in zip(examples, prompts, replies, strict=True):
        p, r = len(prompt.ids), len(reply.ids)
        if p > PROMPT_LEN:
            continue
        if r + 2 > RESPONSE_LEN:
            raise ValueError(f"reply of {r} tokens does not fit RESPONSE_LEN {RESPONSE_LEN}: {example.reply!r}")
        ids[kept, :p] = prompt.ids
        ids[kept, p : p + r] = reply.ids
        ids[kept, p + r] = eot_id
        prompt_len[kept] = p
        task[kept] = demo_tasks.TASKS.index(example.task)
        kept += 1
    return EncodedSet(ids[:kept], prompt_len[:kept], task[:kept])


def _chunk(args: tuple[str, int, int, int, int, int]) -> EncodedSet:
    tokenizer_json, seed, index, size, eot_id, eos_id = args
    rng = random.Random(seed * 1_000_003 + index)
    examples = [demo_tasks.make_example(rng, "train") for _ in range(size)]
    return encode_examples(Tokenizer.from_str(tokenizer_json), examples, eot_id=eot_id, eos_id=eos_id)


def build_training_set(tokenizer: Tokenizer, n: int, seed: int, workers: int | None = None) -> EncodedSet:
    """About n rows (minus the few over-long prompts) drawn from the training split."""
    eot_id, eos_id = tokenizer.token_to_id("<|eot_id|>"), tokenizer.token_to_id("<|endoftext|>")
    sizes = [min(CHUNK, n - start) for start in range(0, n, CHUNK)]
    jobs = [(tokenizer.to_str(), seed, i, size, eot_id, eos_id) for i, size in enumerate(sizes)]
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # the workers are the parallelism
    workers = workers or os.cpu_count() or 1
    if workers == 1:
        parts = [_chunk(job) for job in jobs]
    else:
        with ProcessPoolExecutor(workers) as pool:
            parts = list(pool.map(_chunk, jobs))
    return EncodedSet(
        np.concatenate([p.ids for p in parts]),
        np.concatenate([p.prompt_len for p in parts]),
        np.concatenate([p.task for p in parts]),
    )
