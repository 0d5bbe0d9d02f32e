"""What compare says about two runs: how their parameters differ, and which tokens of each are
not in the other's final text.

Torch- and Textual-free; every value quoted from a trace is made inert here.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any, NamedTuple

from llada_tui.core.inert import inert_text
from llada_tui.core.records import Header
from llada_tui.core.run_index import RunIndex


def _number(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:g}"
    return str(value)


def _model(header: Header) -> str:
    model = header.model
    details = " ".join(str(model[key]) for key in ("dtype", "device") if model.get(key))
    name = str(model.get("name", "unknown model"))
    return f"{name} ({details})" if details else name


def _sampler(header: Header) -> str:
    params, shown = header.params, str(header.sampler)
    if params.get("threshold") is not None:
        shown += f" τ {_number(params['threshold'])}"
    if params.get("threshold_back") is not None:
        shown += f" / back {_number(params['threshold_back'])}"
    if header.approximate:
        shown += f" ({params['cache']} cache)"
    return shown


def _param(key: str) -> Callable[[Header], str]:
    return lambda header: _number(header.params.get(key, "–"))


# (what the header calls it, how it reads from a run's header): the order the header lists them
FIELDS: list[tuple[str, Callable[[Header], str]]] = [
    ("model", _model),
    ("sampler", _sampler),
    ("steps", lambda header: "variable" if header.total_steps is None else str(header.total_steps)),
    ("blocks of", lambda header: str(header.block_length)),
    ("tokens", lambda header: str(header.gen_length)),
    ("temp", _param("temperature")),
    ("cfg", _param("cfg_scale")),
    ("remasking", _param("remasking")),
    ("seed", _param("seed")),
    ("prompt", lambda header: header.prompt_text),
]


class Field(NamedTuple):
    label: str
    a: str
    b: str  # the same as a for a field the runs share


def fields(a: Header, b: Header) -> tuple[list[Field], list[Field]]:
    """The two runs' parameters: (those that differ, those they share), each value inert."""
    differ, same = [], []
    for label, read in FIELDS:
        field = Field(label, inert_text(read(a)), inert_text(read(b)))
        (same if field.a == field.b else differ).append(field)
    return differ, same


def final_pieces(run: RunIndex) -> list[tuple[int, str]]:
    """(position, text) of each token in the run's text after every step seen: specials and
    masked positions left out, as the answer reads."""
    return [
        (pos, run.texts.get(token_id, ""))
        for pos, token_id in enumerate(run.ids_at(run.length))
        if token_id not in run.hidden_ids
    ]


def differing_positions(a: RunIndex, b: RunIndex) -> tuple[frozenset[int], frozenset[int]]:
    """The positions of each run's final tokens that are not in the other's text, as a diff of
    the two token sequences shows them (a token that moved by a few positions is no difference)."""
    pieces_a, pieces_b = final_pieces(a), final_pieces(b)
    matcher = difflib.SequenceMatcher(None, [t for _, t in pieces_a], [t for _, t in pieces_b], autojunk=False)
    in_a, in_b = set(), set()
    for block in matcher.get_matching_blocks():
        in_a.update(range(block.a, block.a + block.size))
        in_b.update(range(block.b, block.b + block.size))
    return (
        frozenset(pos for i, (pos, _) in enumerate(pieces_a) if i not in in_a),
        frozenset(pos for i, (pos, _) in enumerate(pieces_b) if i not in in_b),
    )
