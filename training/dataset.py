"""The training set: demo_tasks examples as fixed-length rows of token ids.

A row is the chat prompt, then the reply, <|eot_id|> and <|endoftext|> padding up to SEQ_LEN,
as in LLaDA's SFT: the model learns where the reply ends by filling in the padding. Prompt and
reply are encoded separately, exactly as the sampler sees them (prompt ids, then generated ids).
Training cuts each row to prompt + gen_length with a key mask (training/train.py, mask_batch).

Examples are drawn in chunks, each from its own seeded Random (seed, chunk index), by a pool of
worker processes that stays ahead of the training loop: every row is fresh (a fixed set of a few
million rows gets memorised instead of learnt), and the same seed gives the same rows whatever
the number of workers.
"""

from __future__ import annotations

import multiprocessing
import os
import random
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
from tokenizers import Tokenizer

from training import demo_tasks
from training.tokenizer import chat_prompt

PROMPT_LEN = 80  # longer prompts (only some random "anything else" ones) are skipped
RESPONSE_LEN = 64  # the default gen_length: the longest reply, its EOT and one EOS fit
SEQ_LEN = PROMPT_LEN + RESPONSE_LEN
CHUNK = 16_384  # rows per chunk: 32 batches of 512


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
    examples = [demo_tasks.make_example(rng, "train") for _ in range(size + size // 50)]  # a few get skipped
    encoded = encode_examples(Tokenizer.from_str(tokenizer_json), examples, eot_id=eot_id, eos_id=eos_id)
    if len(encoded.ids) < size:
        raise RuntimeError(f"chunk {index}: only {len(encoded.ids)} of {size} prompts fit PROMPT_LEN")
    return EncodedSet(encoded.ids[:size], encoded.prompt_len[:size], encoded.task[:size])


def stream_chunks(tokenizer: Tokenizer, seed: int, first: int = 0, workers: int | None = None) -> Iterator[EncodedSet]:
    """Chunks first, first + 1, ... of the training split, CHUNK rows each, endlessly."""
    eot_id, eos_id = tokenizer.token_to_id("<|eot_id|>"), tokenizer.token_to_id("<|endoftext|>")
    tokenizer_json = tokenizer.to_str()
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # the workers are the parallelism
    workers = workers or max(1, (os.cpu_count() or 2) - 2)
    # forkserver: the parent may already hold CUDA, which must not be forked.
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver"))
    try:
        pending = deque(
            pool.submit(_chunk, (tokenizer_json, seed, first + i, CHUNK, eot_id, eos_id)) for i in range(2 * workers)
        )
        index = first + len(pending)
        while True:
            yield pending.popleft().result()
            pending.append(pool.submit(_chunk, (tokenizer_json, seed, index, CHUNK, eot_id, eos_id)))
            index += 1
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
