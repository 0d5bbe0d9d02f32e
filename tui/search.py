"""Find text in the answer over time: every step at which a piece of text becomes fully visible.

The answer after t steps is the token texts in order; masked positions and special tokens
break it into pieces (a match never spans them). Text can only appear where a step changed
something, so each step is checked only in a window around its changed positions: the cost
is proportional to the number of changes times the length of the query, not steps x length.
Lower-case queries match any case (smart case, as in less and vim).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from llada_tui.core.run_index import RunIndex


@dataclass(frozen=True)
class Match:
    t: int  # timeline position at which the text became visible
    pos: int  # position of the token where it starts


def find_text(recording: RunIndex, query: str) -> list[Match]:
    """Every (step, place) at which `query` becomes visible, in timeline order."""
    if not query or not recording.ready:
        return []
    fold = str.casefold if query == query.casefold() else str
    needle = fold(query)
    hidden = recording.hidden_ids
    texts: dict[int, str] = {}

    def text_of(token_id: int) -> str | None:
        if token_id in hidden:
            return None
        if token_id not in texts:
            texts[token_id] = fold(recording.text(token_id))
        return texts[token_id]

    current = [recording.mask_id] * recording.gen_length
    reach = len(needle) - 1  # characters a match can extend beyond the changed token
    matches: list[Match] = []
    for step_index, step in enumerate(recording.steps):
        for pos, token_id in zip(step.positions, step.ids):
            current[pos] = token_id
        found: set[int] = set()
        for pos in sorted(set(step.positions)):
            own = text_of(current[pos])
            if own is None:
                continue
            first, last = pos, pos
            before = after = 0
            while before < reach and first > 0 and (left := text_of(current[first - 1])) is not None:
                first -= 1
                before += len(left)
            while after < reach and last + 1 < len(current) and (right := text_of(current[last + 1])) is not None:
                last += 1
                after += len(right)
            starts, window = [], []
            offset = 0
            for p in range(first, last + 1):
                starts.append(offset)
                piece = text_of(current[p])
                window.append(piece)
                offset += len(piece)
            window_text = "".join(window)
            own_start = starts[pos - first]
            own_end = own_start + len(own)
            at = window_text.find(needle)
            while at >= 0:
                if at < own_end and at + len(needle) > own_start:
                    found.add(first + bisect.bisect_right(starts, at) - 1)
                at = window_text.find(needle, at + 1)
        matches.extend(Match(step_index + 1, start) for start in sorted(found))
    return matches
