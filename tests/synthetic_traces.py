"""Test traces written with TraceWriter, shaped like LLaDA's sampler: blocks, several tokens per
step committed in order of confidence, top-k candidates whose top-1 probability rises until the
token commits. No torch, deterministic (seeded), small enough for fast tests.
"""

from __future__ import annotations

import random
import threading
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import msgpack

from llada_tui.core.records import VARIABLE_STEPS_VERSION, VERSION, Candidates, End, Header, Step
from llada_tui.core.trace_writer import TraceWriter

BOS, EOS, EOT, MASK = 1, 2, 3, 9
SPECIALS = {BOS: "<|startoftext|>", EOS: "<|endoftext|>", EOT: "<|eot_id|>", MASK: "<|mdm_mask|>"}
ALTERNATIVES = (" the", " 70", ",", " is", " and")

ARITHMETIC = [
    "The", " answer", " is", " 72", ".", "\n",
    "We", " add", " 48", " and", " 24", ":", "\n",
    " 48", " +", " 24", " =", " 72", ".", "\n",
    "So", " the", " sum", " is", " 72", ".",
    "<eot>", "<eos>", "<eos>", "<eos>", "<eos>", "<eos>",
]  # fmt: skip

HOSTILE = [
    "Hi", "\x1b[31m", "red", "\x1b[0m", " \x1b]0;pwned\x07", " bell\x07", " \x9b2J",
    " \u202egnirts", " \u2066iso", " 中文", " ｶﾀ", " zero\u200bwidth", " e\u0301", " \u0301",
    "\ttab", "line\nbreak", " \x1bP+q\x1b\\", "<eos>",
]  # fmt: skip


@dataclass
class Vocabulary:
    """Token texts to ids (specials fixed, others from 1000 on) and back."""

    texts: dict[int, str] = field(default_factory=lambda: dict(SPECIALS))
    ids: dict[str, int] = field(default_factory=dict)

    def id_of(self, text: str) -> int:
        special = {"<eos>": EOS, "<eot>": EOT, "<bos>": BOS}.get(text)
        if special is not None:
            return special
        if text not in self.ids:
            self.ids[text] = 1000 + len(self.ids)
            self.texts[self.ids[text]] = text
        return self.ids[text]

    def text_of(self, token_id: int) -> str:
        return self.texts[token_id]


@dataclass(frozen=True)
class Revision:
    """An extra change at a step: pos becomes text (None: masked again). Models remasking samplers."""

    step: int
    pos: int
    text: str | None


def header_for(
    vocabulary: Vocabulary,
    gen_length: int,
    steps: int,
    block_length: int,
    prompt: str = "What is 48 + 24?",
    k: int = 3,
    version: tuple[int, int] = VERSION,
) -> Header:
    prompt_ids = [BOS] + [vocabulary.id_of(word) for word in prompt.split(" ")]
    return Header(
        prompt_text=prompt,
        prompt_ids=prompt_ids,
        model={"name": "synthetic", "dtype": "float32", "device": "cpu"},
        params={
            "steps": steps,
            "gen_length": gen_length,
            "block_length": block_length,
            "temperature": 0.0,
            "cfg_scale": 0.0,
            "remasking": "low_confidence",
            "mask_id": MASK,
            "eos_id": EOS,
            "eot_id": EOT,
            "seed": 0,
            "topk": k,
        },
        special_ids=[BOS, EOS, EOT],
        created="2025-01-01T00:00:00+0000",
        version=version,
    )


def llada_steps(
    answer: Sequence[str],
    vocabulary: Vocabulary,
    steps: int,
    block_length: int,
    k: int = 3,
    seed: int = 0,
    revisions: Sequence[Revision] = (),
    sure: Sequence[int] = (),
) -> Iterator[Step]:
    """Steps of LLaDA's schedule committing `answer`; positions in `sure` are the most confident."""
    rng = random.Random(seed)
    final = [vocabulary.id_of(text) for text in answer]
    gen_length = len(final)
    n_blocks = gen_length // block_length
    per_block = steps // n_blocks
    confidence = [rng.uniform(0.25, 0.95) for _ in final]
    for pos in sure:
        confidence[pos] = 0.99
    masked = set(range(gen_length))
    revisions_at: dict[int, list[Revision]] = {}
    for revision in revisions:
        revisions_at.setdefault(revision.step, []).append(revision)
    index = 0
    for block in range(n_blocks):
        in_block = list(range(block * block_length, (block + 1) * block_length))
        count, extra = divmod(block_length, per_block)
        for j in range(per_block):
            progress = (index + 1) / steps
            candidates_pos = sorted(masked)
            ids, probs = [], []
            for pos in candidates_pos:
                top = confidence[pos] * (0.4 + 0.6 * progress)
                alternatives = [vocabulary.id_of(a) for a in ALTERNATIVES if vocabulary.id_of(a) != final[pos]]
                ids.extend([final[pos], *alternatives[: k - 1]])
                probs.extend([top, *(min(0.8 * top, (1 - top) * share) for share in (0.6, 0.3, 0.1)[: k - 1])])
            choice = sorted((p for p in in_block if p in masked), key=lambda p: -confidence[p])
            chosen = sorted(choice[: count + (1 if j < extra else 0)])
            changes = {pos: (final[pos], confidence[pos]) for pos in chosen}
            masked.difference_update(chosen)
            for revision in revisions_at.get(index, []):
                if revision.text is None:
                    changes[revision.pos] = (MASK, 0.0)
                    masked.add(revision.pos)
                else:
                    changes[revision.pos] = (vocabulary.id_of(revision.text), 0.5)
                    masked.discard(revision.pos)
            positions = sorted(changes)
            yield Step(
                index=index,
                block=block,
                positions=array("i", positions),
                ids=array("i", [changes[p][0] for p in positions]),
                confidences=array("f", [changes[p][1] for p in positions]),
                wall_ms=38.0 + index % 5,
                candidates=Candidates(array("i", candidates_pos), array("i", ids), array("f", probs), k) if k else None,
            )
            index += 1


def write_trace(
    path: Path,
    answer: Sequence[str] = ARITHMETIC,
    *,
    steps: int = 16,
    block_length: int = 8,
    k: int = 3,
    seed: int = 0,
    revisions: Sequence[Revision] = (),
    sure: Sequence[int] = (3,),
    ending: str = "complete",
    stop_after: int | None = None,
    version: tuple[int, int] = VERSION,
) -> Path:
    """Write a whole trace; ending is "complete", "interrupted" or "none" (cut short, no end record)."""
    vocabulary = Vocabulary()
    header = header_for(vocabulary, len(answer), steps, block_length, k=k, version=version)
    final = [vocabulary.id_of(text) for text in answer]
    writer = TraceWriter(path, header, vocabulary.text_of)
    total_ms = 0.0
    for step in llada_steps(answer, vocabulary, steps, block_length, k, seed, revisions, sure):
        if stop_after is not None and step.index >= stop_after:
            break
        writer.write_step(step)
        total_ms += step.wall_ms
    if ending == "none":
        writer.close()
    elif ending == "interrupted":
        writer.close(End("interrupted", [], "cancelled by the user", total_ms))
    else:
        writer.close(End("complete", final, "", total_ms))  # no final text: readers decode the ids
    return path


class GatedTrace:
    """A trace another thread writes one record at a time, each when the test calls `release`:
    the header (only with `gate_header`; else at once), each step, then the end record. Used as a
    context manager, it lets the writer run to the end on leaving and waits for it."""

    def __init__(
        self,
        path: Path,
        answer: Sequence[str] = ARITHMETIC,
        steps: int = 16,
        block_length: int = 8,
        gate_header: bool = False,
    ):
        vocabulary = Vocabulary()
        header = header_for(vocabulary, len(answer), steps, block_length)
        self.steps = list(llada_steps(answer, vocabulary, steps, block_length))
        final = [vocabulary.id_of(text) for text in answer]
        self._gate = threading.Semaphore(0)

        def write() -> None:
            if gate_header:
                self._gate.acquire()
            writer = TraceWriter(path, header, vocabulary.text_of)
            for step in self.steps:
                self._gate.acquire()
                writer.write_step(step)
            self._gate.acquire()
            writer.close(End("complete", final, "", 1.0))

        self._thread = threading.Thread(target=write, daemon=True)
        self._thread.start()

    def release(self, records: int = 1) -> None:
        for _ in range(records):
            self._gate.release()

    def __enter__(self) -> GatedTrace:
        return self

    def __exit__(self, *_: object) -> None:
        self.release(len(self.steps) + 2)
        self._thread.join(timeout=5)


def remasking_trace(path: Path) -> Path:
    """A trace where ' answer' first commits as ' the', then changes, and ' 72' is masked again once."""
    return write_trace(
        path,
        revisions=[
            Revision(0, 1, " the"),  # committed early as the wrong word...
            Revision(2, 1, " answer"),  # ...then changed
            Revision(3, 3, None),  # ' 72' (committed at step 0) masked again...
            Revision(4, 3, " 72"),  # ...and committed once more
        ],
    )


def hostile_trace(path: Path) -> Path:
    """Token texts that are escape sequences, bidi overrides, wide and zero-width characters."""
    answer = list(HOSTILE)
    return write_trace(path, answer, steps=len(answer) // 2, block_length=len(answer), sure=())


def records_of(path: Path) -> list[dict]:
    """A trace's records as plain msgpack maps, for tests that damage them."""
    with open(path, "rb") as file:
        return list(msgpack.Unpacker(file, raw=False))


def write_records(path: Path, records: Sequence[object]) -> Path:
    """Records packed back to back, as a writer that is not TraceWriter would."""
    path.write_bytes(b"".join(msgpack.packb(record, use_bin_type=True) for record in records))
    return path


# A revising sampler's run (format 2): per step, {position: text, None = masked again}. Block 0
# takes four forwards, block 1 two: step 1 revises position 1 (" the" -> " answer") and masks
# position 4 again, which step 3 commits once more.
REVISING_STEPS: list[tuple[int, dict[int, str | None]]] = [
    (0, {**{pos: ARITHMETIC[pos] for pos in range(8)}, 1: " the"}),
    (0, {**{pos: ARITHMETIC[pos] for pos in (8, 9, 10)}, 1: " answer", 4: None}),
    (0, {pos: ARITHMETIC[pos] for pos in (11, 12, 13)}),
    (0, {pos: ARITHMETIC[pos] for pos in (14, 15, 4)}),
    (1, {pos: ARITHMETIC[pos] for pos in range(16, 28)}),
    (1, {pos: ARITHMETIC[pos] for pos in range(28, 32)}),
]


def revising_trace(
    path: Path, sampler: str = "wino", cache: str = "none", stop_after: int | None = None, k: int = 3
) -> Path:
    """A format-2 trace of a sampler that decides its own steps (REVISING_STEPS): with a cache, a
    block's first forward is full and the others cached. Candidates for every position of the
    block being worked on, decoded ones too (as a revising sampler records them). stop_after:
    the steps written, then no end record (a run still arriving, or cut short)."""
    vocabulary = Vocabulary()
    header = header_for(vocabulary, len(ARITHMETIC), 0, 16, k=k, version=VARIABLE_STEPS_VERSION)
    thresholds = {"threshold": 0.6, "threshold_back": 0.9} if sampler == "wino" else {"threshold": 0.9}
    params = {**header.params, "steps": None, "sampler": sampler, **thresholds, "cache": cache}
    header = replace(header, params=params)
    writer = TraceWriter(path, header, vocabulary.text_of)
    alternatives = [vocabulary.id_of(text) for text in ALTERNATIVES]
    for index, (block, changes) in enumerate(REVISING_STEPS[:stop_after]):
        positions = sorted(changes)
        ids = [MASK if changes[pos] is None else vocabulary.id_of(changes[pos]) for pos in positions]
        in_block = list(range(block * 16, (block + 1) * 16))
        top = [vocabulary.id_of(ARITHMETIC[pos]) for pos in in_block]
        candidate_ids = [i for first in top for i in [first, *[a for a in alternatives if a != first][: k - 1]]]
        probs = [p for _ in in_block for p in (0.8, 0.15, 0.05)[:k]]
        first_of_block = index == 0 or REVISING_STEPS[index - 1][0] != block
        writer.write_step(
            Step(
                index=index,
                block=block,
                positions=array("i", positions),
                ids=array("i", ids),
                confidences=array("f", [0.3 if changes[pos] is None else 0.9 for pos in positions]),
                wall_ms=20.0 + index,
                candidates=Candidates(array("i", in_block), array("i", candidate_ids), array("f", probs), k),
                forward="full" if cache == "none" or first_of_block else "cached",
            )
        )
    if stop_after is not None:
        writer.close()
    else:
        writer.close(End("complete", [vocabulary.id_of(text) for text in ARITHMETIC], "", 200.0))
    return path
