"""The index of a run's steps."""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from pathlib import Path

from llada_tui.core.records import Header, Step
from llada_tui.core.trace_reader import Trace, load_trace


class TraceIndex:
    """Answers "what is at position p after t steps" in O(log changes) without replaying.

    Timeline positions t run from 0 (everything masked) to len(steps) (every step applied).
    Steps are appended as they arrive, so the same index serves files, follow mode and live.
    """

    def __init__(self, header: Header):
        self.header = header
        self.mask_id = header.mask_id
        n = header.gen_length
        self.steps: list[Step] = []
        self._change_steps: list[list[int]] = [[] for _ in range(n)]
        self._change_ids: list[list[int]] = [[] for _ in range(n)]
        self._change_conf: list[list[float]] = [[] for _ in range(n)]
        self.masked_after: list[int] = [n]  # masked_after[t]: masked positions after t steps
        self.committed_per_step: list[int] = []

    def __len__(self) -> int:
        return len(self.steps)

    def append(self, step: Step) -> None:
        masked = self.masked_after[-1]
        committed = 0
        for pos, token_id, conf in zip(step.positions, step.ids, step.confidences):
            before = self._change_ids[pos][-1] if self._change_ids[pos] else self.mask_id
            self._change_steps[pos].append(step.index)
            self._change_ids[pos].append(token_id)
            self._change_conf[pos].append(conf)
            if before == self.mask_id and token_id != self.mask_id:
                masked -= 1
                committed += 1
            elif before != self.mask_id and token_id == self.mask_id:
                masked += 1
        self.steps.append(step)
        self.masked_after.append(masked)
        self.committed_per_step.append(committed)

    def extend(self, steps: Iterable[Step]) -> None:
        for step in steps:
            self.append(step)

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

    def history(self, pos: int) -> list[tuple[int, int, float]]:
        """Every change of pos as (step, token id, confidence)."""
        return list(zip(self._change_steps[pos], self._change_ids[pos], self._change_conf[pos]))

    def ids_at(self, t: int) -> list[int]:
        return [self.token_at(pos, t) for pos in range(self.header.gen_length)]


def read_index(path: str | Path) -> tuple[Trace, TraceIndex]:
    """Load a trace and index all of its steps."""
    trace = load_trace(path)
    index = TraceIndex(trace.header)
    index.extend(trace.steps)
    return trace, index
