"""When did the answer appear? The answer span of a run and the order its tokens came in.

LLaDA may commit the answer ("72") before the reasoning that leads to it ("48 + 24"). This
measures it for one run: the answer span in the reply (by default what follows the last
"the answer is"), the step at which its first and its last token became visible, and, of the
reasoning before it, how many tokens came only after the answer was complete. The reply is the
final text up to its first end-of-text or end-of-turn token: a model may write on after it
(the demo model does at lengths it was not trained for), but that is not its answer.

Steps here are the player's step counter: a token that step index i (0-based) set became
visible at step i + 1, and step 0 is everything masked. With a sampler that revises tokens, a
position counts from the step at which it took its final token. Nothing here imports torch or
Textual; `llada-tui order` and the player's order overlay read a run through this module.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass

from llada_tui.core.run_index import RunIndex

# "The answer is 72." -> "72": the lead-in (an optional "the", "answer is", an optional colon),
# then the span up to the next full stop that ends a sentence (not the point of "2.5"), the end
# of the line, or the end of the text.
DEFAULT_SPAN = re.compile(r"(?:\bthe\s+)?\banswer\s+is\b:?[ \t]*(.*?)\s*(?:\.(?!\d)|\n|$)", re.IGNORECASE)
ANSWER_FIRST_SHARE = 0.5  # a run is answer-first when more than half of its reasoning came after the answer


@dataclass(frozen=True)
class AnswerSpan:
    text: str
    positions: range  # the generated positions whose tokens make up the span
    lead_in: range  # the generated positions of the match before the span ("The answer is ")
    first_step: int  # the step at which the first of the span's tokens became visible
    complete_step: int  # the step at which the last of them did


@dataclass(frozen=True)
class Reasoning:
    """The visible, non-blank tokens that end before the span's lead-in."""

    positions: tuple[int, ...]
    median_step: float | None  # None when there are none
    after_span: float | None  # the share that became visible after the span was complete

    @property
    def tokens(self) -> int:
        return len(self.positions)

    @property
    def answer_first(self) -> bool:
        return self.after_span is not None and self.after_span > ANSWER_FIRST_SHARE


@dataclass(frozen=True)
class AnswerOrder:
    span: AnswerSpan | None  # None when the text has no span
    reasoning: Reasoning | None  # None without a span
    final_steps: list[int | None]  # per generated position: when it took its final token; None if masked
    steps: int  # the steps (model forwards) the run took, as far as it is known
    complete: bool  # whether the run finished (else the numbers are for its text so far)


def final_steps(run: RunIndex) -> list[int | None]:
    """Per generated position, the step at which it took the token it holds after every step seen."""
    steps: list[int | None] = []
    for pos in range(run.gen_length):
        history = run.history(pos)
        holds_token = history and history[-1].token_id != run.mask_id
        steps.append(history[-1].step + 1 if holds_token else None)
    return steps


def visible_pieces(run: RunIndex) -> tuple[str, list[tuple[int, int, int]]]:
    """The reply (the final text up to its first end of text or of turn, masked and special
    tokens left out) and, for each token in it, (position, first character, end character)."""
    params = run.header.params
    ends = {params.get("eos_id"), params.get("eot_id")} - {None}
    pieces, text, at = [], [], 0
    for pos, token_id in enumerate(run.ids_at(run.length)):
        if token_id in ends:
            break
        if token_id in run.hidden_ids:
            continue
        piece = run.texts.get(token_id, "")
        pieces.append((pos, at, at + len(piece)))
        text.append(piece)
        at += len(piece)
    return "".join(text), pieces


def find_span(text: str, pattern: re.Pattern[str] | None = None) -> tuple[int, int, int] | None:
    """(lead-in start, span start, span end) in characters of the pattern's last match whose span
    is not blank: its first group if it has one, else the whole match."""
    pattern = pattern or DEFAULT_SPAN
    for match in reversed(list(pattern.finditer(text))):
        group = 1 if pattern.groups else 0
        start, end = match.span(group)
        if start < 0:  # the group took no part in this match
            continue
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if start < end:
            return min(match.start(), start), start, end
    return None


def answer_order(run: RunIndex, pattern: re.Pattern[str] | None = None) -> AnswerOrder:
    steps_taken = final_steps(run)
    text, pieces = visible_pieces(run)
    found = find_span(text, pattern)
    complete = run.end is not None
    if found is None:
        return AnswerOrder(None, None, steps_taken, run.length, complete)
    lead_start, span_start, span_end = found
    span_positions = [pos for pos, first, end in pieces if first < span_end and end > span_start]
    lead_positions = [
        pos for pos, first, end in pieces if first < span_start and end > lead_start and pos not in span_positions
    ]
    span_steps = [steps_taken[pos] for pos in span_positions]
    span = AnswerSpan(
        text=text[span_start:span_end],
        positions=range(span_positions[0], span_positions[-1] + 1),
        lead_in=range(lead_positions[0], lead_positions[-1] + 1)
        if lead_positions
        else range(span_positions[0], span_positions[0]),
        first_step=min(span_steps),
        complete_step=max(span_steps),
    )
    reasoning_positions = tuple(pos for pos, first, end in pieces if end <= lead_start and text[first:end].strip())
    reasoning_steps = [steps_taken[pos] for pos in reasoning_positions]
    reasoning = Reasoning(
        positions=reasoning_positions,
        median_step=statistics.median(reasoning_steps) if reasoning_steps else None,
        after_span=(
            sum(step > span.complete_step for step in reasoning_steps) / len(reasoning_steps)
            if reasoning_steps
            else None
        ),
    )
    return AnswerOrder(span, reasoning, steps_taken, run.length, complete)
