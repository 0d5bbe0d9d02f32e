"""The player's order overlay (o): each token shaded by the rank of the step at which it took its
final text, the answer span and its lead-in marked, the span's complete step for the timeline.

The numbers are core/answer_order.py's, the same as `llada-tui order` prints; this only turns
them into what the grid, the legend and the timeline draw.
"""

from __future__ import annotations

from dataclasses import dataclass

from llada_tui.core.answer_order import AnswerOrder, answer_order
from llada_tui.core.run_index import RunIndex


@dataclass(frozen=True)
class OrderOverlay:
    ranks: list[float | None]  # per position: 0 (first) to 1 (last) among the answer's text; None: not in it
    span: range  # the answer span's positions (empty: no span)
    lead_in: range  # the positions of "The answer is " before it
    complete_step: int | None  # the step at which the span was complete (None: no span)
    order: AnswerOrder

    @classmethod
    def of(cls, run: RunIndex) -> OrderOverlay:
        order = answer_order(run)
        final_ids = run.ids_at(run.length)
        in_text = [step if final_ids[pos] not in run.hidden_ids else None for pos, step in enumerate(order.final_steps)]
        distinct = sorted({step for step in in_text if step is not None})
        rank_of = {step: i / max(1, len(distinct) - 1) for i, step in enumerate(distinct)}
        ranks = [None if step is None else rank_of[step] for step in in_text]
        span = order.span
        if span is None:
            return cls(ranks, range(0), range(0), None, order)
        return cls(ranks, span.positions, span.lead_in, span.complete_step, order)

    @property
    def found(self) -> bool:
        return self.complete_step is not None
