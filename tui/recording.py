"""The run as the player knows it so far: header, indexed steps, and how it ended.

It grows as a source delivers records (all at once for a file, step by step when following a
file or watching a live run) and answers the questions the widgets ask about any timeline
position t in time independent of the run's length (lookups and bisections, no replay).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from llada_tui.core.records import End, Header, Step
from llada_tui.core.run_index import TraceIndex


@dataclass(frozen=True)
class Change:
    step: int
    token_id: int
    confidence: float


class Recording:
    def __init__(self) -> None:
        self.header: Header | None = None
        self.index: TraceIndex | None = None
        self.end: End | None = None
        self.problem: str | None = None  # why the run has no clean end ("cut short after step 12 of 64")
        self.block_starts: list[int] = []  # timeline positions where a block begins, from the steps seen
        self._block_masked: list[int] = []  # masked positions per block, after the steps seen
        self.block_masked_after: list[int] = [0]  # [t]: masks left in step t-1's block after t steps
        self.hidden_ids: frozenset[int] = frozenset()

    # ------------------------------------------------------------------ growing

    def start(self, header: Header) -> None:
        self.header = header
        self.index = TraceIndex(header)
        self.hidden_ids = frozenset({header.mask_id, *header.special_ids})
        self._block_masked = [self.block_range(b)[1] - self.block_range(b)[0] for b in range(self.n_blocks)]
        self.block_masked_after = [self._block_masked[0] if self._block_masked else 0]

    def add(self, steps: list[Step]) -> None:
        assert self.index is not None, "steps before the header"
        mask_id = self.index.mask_id
        block_length = self.header.block_length
        for step in steps:
            t = len(self.index)
            for pos, token_id in zip(step.positions, step.ids):
                before = self.index.token_at(pos, t)
                block = min(pos // block_length, self.n_blocks - 1)
                self._block_masked[block] += (token_id == mask_id) - (before == mask_id)
            if t == 0 or step.block != self.index.steps[-1].block:
                self.block_starts.append(t)
            self.index.append(step)
            block = min(max(step.block, 0), self.n_blocks - 1)
            self.block_masked_after.append(self._block_masked[block])

    def finish(self, end: End | None, problem: str | None) -> None:
        self.end = end
        self.problem = problem

    # ------------------------------------------------------------------ shape of the run

    @property
    def ready(self) -> bool:
        return self.index is not None

    @property
    def ended(self) -> bool:
        return self.end is not None or self.problem is not None

    @property
    def length(self) -> int:
        """Steps known so far; the timeline runs from 0 to this."""
        return len(self.index) if self.index is not None else 0

    @property
    def total_steps(self) -> int:
        """Steps the run was asked for (more than `length` while it is still arriving or if cut short)."""
        return self.header.total_steps if self.header is not None else 0

    @property
    def gen_length(self) -> int:
        return self.header.gen_length if self.header is not None else 0

    @property
    def n_blocks(self) -> int:
        header = self.header
        return max(1, -(-header.gen_length // max(1, header.block_length))) if header else 0

    def block_range(self, block: int) -> tuple[int, int]:
        length = self.header.block_length
        return block * length, min(self.header.gen_length, (block + 1) * length)

    def block_at(self, t: int) -> int:
        """The block being worked on after t steps: that of step t-1 (step 0's at the start)."""
        if not self.length:
            return 0
        return self.index.steps[min(max(t - 1, 0), self.length - 1)].block

    def boundaries(self) -> list[int]:
        """Timeline positions where a block begins: those seen, then those the header promises."""
        starts = list(self.block_starts)
        per_block = self.header.steps_per_block if self.header else 0
        if per_block > 0:
            # Steps seen are those before `length`, so every block start from `length` on is
            # still a promise, the one equal to it included (the next block's first step).
            first_unseen = -(-self.length // per_block) * per_block
            starts.extend(range(first_unseen, self.total_steps, per_block))
        return starts

    # ------------------------------------------------------------------ tokens

    def text(self, token_id: int) -> str:
        return self.header.token_texts.get(token_id, f"<{token_id}>")

    def is_mask(self, token_id: int) -> bool:
        return token_id == self.index.mask_id

    def history(self, pos: int) -> list[Change]:
        return [Change(*change) for change in self.index.history(pos)]

    def candidates(self, pos: int, t: int) -> list[tuple[int, float]] | None:
        """The top-k predictions for pos made by step t's forward pass (on the state after t steps)."""
        if not 0 <= t < self.length:
            return None
        candidates = self.index.steps[t].candidates
        if candidates is None:
            return None
        row = _find(candidates.positions, pos)
        return None if row is None else candidates.row(row)

    def top_candidate_history(self, pos: int) -> list[tuple[int, float]]:
        """(step, probability of the most likely token) for each step whose forward pass saw pos masked."""
        series = []
        for step in self._masked_steps(pos):
            candidates = self.index.steps[step].candidates
            row = None if candidates is None else _find(candidates.positions, pos)
            if row is not None:
                series.append((step, float(candidates.probs[row * candidates.k])))
        return series

    def _masked_steps(self, pos: int) -> list[int]:
        """Steps that began with pos masked."""
        steps: list[int] = []
        masked_since: int | None = 0
        for change in self.index.history(pos):
            step, token_id = change[0], change[1]
            if token_id == self.index.mask_id:
                if masked_since is None:
                    masked_since = step + 1
            elif masked_since is not None:
                steps.extend(range(masked_since, step + 1))
                masked_since = None
        if masked_since is not None:
            steps.extend(range(masked_since, self.length))
        return steps


def _find(positions, pos: int) -> int | None:
    """Row of pos in a step's candidate positions (written in order; checked, not trusted)."""
    i = bisect.bisect_left(positions, pos)
    if i < len(positions) and positions[i] == pos:
        return i
    try:
        return positions.index(pos)
    except ValueError:
        return None
