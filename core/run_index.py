"""One run as far as it is known: header, indexed steps, token texts, blocks, and how it ended.

It grows as records arrive (all at once from a file, step by step when following a file or
watching a live run) and answers, for any timeline position t from 0 (everything masked) to
`length` (every step seen applied), in time independent of the run's length: the state after t
steps, each position's history, masked counts, per-block counts and where blocks begin. The
player, `info` and `export` all read a run through it. Nothing here imports torch or Textual.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from llada_tui.core.records import End, Header, Step
from llada_tui.core.trace_reader import Trace


class Change(NamedTuple):
    step: int
    token_id: int
    confidence: float


class RunIndex:
    def __init__(self) -> None:
        self.header: Header | None = None
        self.end: End | None = None
        self.problem: str | None = None  # why the run has no clean end ("cut short after step 12 of 64")
        self.steps: list[Step] = []
        self.mask_id = -1
        self.hidden_ids: frozenset[int] = frozenset()  # the mask and special tokens: not part of the answer
        self.masked_after: list[int] = [0]  # [t]: masked positions after t steps
        self.committed_per_step: list[int] = []  # [i]: positions step i turned from masked to a token
        self.revised_per_step: list[int] = []  # [i]: positions step i turned from one token to another
        self.remasked_per_step: list[int] = []  # [i]: positions step i turned from a token back to masked
        self.block_starts: list[int] = []  # timeline positions where a block begins, from the steps seen
        self.block_masked_after: list[int] = [0]  # [t]: masks left in step t-1's block after t steps
        self._block_masked: list[int] = []  # masked positions per block, after the steps seen
        self._texts: dict[int, str] = {}  # the header's token texts, then those each step brought
        self._change_steps: list[list[int]] = []  # per position: the steps that changed it, in order
        self._change_ids: list[list[int]] = []
        self._change_conf: list[list[float]] = []

    @classmethod
    def of_trace(cls, trace: Trace) -> RunIndex:
        """The index of a whole trace as read from a file."""
        index = cls()
        index.start(trace.header)
        index.add(trace.steps)
        index.finish(trace.end, trace.warning)
        return index

    # ------------------------------------------------------------------ growing

    def start(self, header: Header) -> None:
        self.header = header
        self.mask_id = header.mask_id
        self.hidden_ids = frozenset({header.mask_id, *header.special_ids})
        self._texts = dict(header.token_texts)
        n = header.gen_length
        self._change_steps = [[] for _ in range(n)]
        self._change_ids = [[] for _ in range(n)]
        self._change_conf = [[] for _ in range(n)]
        self.masked_after = [n]
        self._block_masked = [end - start for start, end in map(self.block_range, range(self.n_blocks))]
        self.block_masked_after = [self._block_masked[0] if self._block_masked else 0]

    def add(self, steps: Iterable[Step]) -> None:
        assert self.header is not None, "steps before the header"
        mask_id, block_length, last_block = self.mask_id, max(1, self.header.block_length), self.n_blocks - 1
        for step in steps:
            t = len(self.steps)
            masked, committed, revised, remasked = self.masked_after[-1], 0, 0, 0
            for pos, token_id, conf in zip(step.positions, step.ids, step.confidences):
                ids = self._change_ids[pos]
                was_masked = not ids or ids[-1] == mask_id
                now_masked = token_id == mask_id
                self._change_steps[pos].append(step.index)
                ids.append(token_id)
                self._change_conf[pos].append(conf)
                masked += now_masked - was_masked
                committed += was_masked and not now_masked
                revised += not was_masked and not now_masked
                remasked += now_masked and not was_masked
                self._block_masked[min(pos // block_length, last_block)] += now_masked - was_masked
            if t == 0 or step.block != self.steps[-1].block:
                self.block_starts.append(t)
            self._texts.update(step.texts)
            self.steps.append(step)
            self.masked_after.append(masked)
            self.committed_per_step.append(committed)
            self.revised_per_step.append(revised)
            self.remasked_per_step.append(remasked)
            self.block_masked_after.append(self._block_masked[min(max(step.block, 0), last_block)])

    def finish(self, end: End | None, problem: str | None) -> None:
        self.end = end
        self.problem = problem

    # ------------------------------------------------------------------ shape of the run

    @property
    def ready(self) -> bool:
        return self.header is not None

    @property
    def ended(self) -> bool:
        return self.end is not None or self.problem is not None

    @property
    def length(self) -> int:
        """Steps known so far; the timeline runs from 0 to this."""
        return len(self.steps)

    def __len__(self) -> int:
        return len(self.steps)

    @property
    def total_steps(self) -> int:
        """The run's steps: those it was asked for where the sampler fixes them (more than `length`
        while it is still arriving or if cut short), else those seen so far (all, once it ended)."""
        if self.header is None:
            return 0
        fixed = self.header.total_steps
        return fixed if fixed is not None else len(self.steps)

    @property
    def steps_known(self) -> bool:
        """Whether total_steps is final: fixed by the sampler, or the run has ended."""
        return self.header is not None and (self.header.total_steps is not None or self.ended)

    @property
    def gen_length(self) -> int:
        return self.header.gen_length if self.header is not None else 0

    # ------------------------------------------------------------------ blocks

    @property
    def n_blocks(self) -> int:
        header = self.header
        return max(1, -(-header.gen_length // max(1, header.block_length))) if header else 0

    def block_range(self, block: int) -> tuple[int, int]:
        """The positions [start, end) of a block."""
        length = self.header.block_length
        return block * length, min(self.header.gen_length, (block + 1) * length)

    def block_at(self, t: int) -> int:
        """The block being worked on after t steps: that of step t-1 (step 0's at the start)."""
        if not self.steps:
            return 0
        return self.steps[min(max(t - 1, 0), len(self.steps) - 1)].block

    def boundaries(self) -> list[int]:
        """Timeline positions where a block begins: those the steps show, then those still to come.

        Blocks may take different numbers of steps, so the starts still to come are a promise:
        the steps not yet seen shared evenly by the current block and those after it. A block
        start at `length` itself is a promise too (the next block's first step is not seen yet).
        A sampler that decides its own steps promises nothing: only the starts seen.
        """
        starts = list(self.block_starts)
        if self.header is None or self.header.total_steps is None:
            return starts
        current = self.steps[-1].block if self.steps else 0
        began = starts[-1] if starts else 0
        blocks_left = max(1, self.n_blocks - current)
        share = self.total_steps - began
        for i in range(1, blocks_left) if starts else range(blocks_left):
            promised = began + i * share // blocks_left
            if promised >= self.length and (not starts or promised > starts[-1]):
                starts.append(promised)
        return starts

    # ------------------------------------------------------------------ the state after t steps

    def _last_change(self, pos: int, t: int) -> int:
        """Index into pos's change lists of the last change among the first t steps, or -1."""
        changes = self._change_steps[pos]
        if not changes or changes[0] >= t:
            return -1
        return bisect.bisect_left(changes, t) - 1

    def token_at(self, pos: int, t: int) -> int:
        i = self._last_change(pos, t)
        return self.mask_id if i < 0 else self._change_ids[pos][i]

    def cell_at(self, pos: int, t: int) -> tuple[int, int, float]:
        """(token id, step that set it or -1, confidence then) at position pos after t steps."""
        i = self._last_change(pos, t)
        if i < 0:
            return self.mask_id, -1, 0.0
        return self._change_ids[pos][i], self._change_steps[pos][i], self._change_conf[pos][i]

    def ids_at(self, t: int) -> list[int]:
        return [self.token_at(pos, t) for pos in range(self.gen_length)]

    def history(self, pos: int) -> list[Change]:
        """Every change of pos, in order."""
        return list(map(Change._make, zip(self._change_steps[pos], self._change_ids[pos], self._change_conf[pos])))

    # ------------------------------------------------------------------ tokens

    @property
    def texts(self) -> Mapping[int, str]:
        """Every token text seen so far: the header's and those the steps brought."""
        return self._texts

    def text(self, token_id: int) -> str:
        return self._texts.get(token_id, f"<{token_id}>")

    def is_mask(self, token_id: int) -> bool:
        return token_id == self.mask_id

    def decode(self, ids: Iterable[int]) -> str:
        """The answer as text from the token texts seen, special and mask tokens skipped."""
        return "".join(self._texts.get(i, "") for i in ids if i not in self.hidden_ids)

    def candidates(self, pos: int, t: int) -> list[tuple[int, float]] | None:
        """The top-k predictions for pos made by step t's forward pass (on the state after t steps)."""
        if not 0 <= t < len(self.steps):
            return None
        candidates = self.steps[t].candidates
        if candidates is None:
            return None
        row = _find(candidates.positions, pos)
        return None if row is None else candidates.row(row)

    def top_candidate_history(self, pos: int) -> list[tuple[int, float]]:
        """(step, probability of the most likely token) for each step whose forward pass saw pos masked."""
        series = []
        for step in self._masked_steps(pos):
            candidates = self.steps[step].candidates
            row = None if candidates is None else _find(candidates.positions, pos)
            if row is not None:
                series.append((step, float(candidates.probs[row * candidates.k])))
        return series

    def _masked_steps(self, pos: int) -> list[int]:
        """Steps that began with pos masked."""
        steps: list[int] = []
        masked_since: int | None = 0
        for step, token_id in zip(self._change_steps[pos], self._change_ids[pos]):
            if token_id == self.mask_id:
                if masked_since is None:
                    masked_since = step + 1
            elif masked_since is not None:
                steps.extend(range(masked_since, step + 1))
                masked_since = None
        if masked_since is not None:
            steps.extend(range(masked_since, len(self.steps)))
        return steps


def _find(positions: Sequence[int], pos: int) -> int | None:
    """Row of pos in a step's candidate positions (written in order; checked, not trusted)."""
    i = bisect.bisect_left(positions, pos)
    if i < len(positions) and positions[i] == pos:
        return i
    try:
        return positions.index(pos)
    except ValueError:
        return None
