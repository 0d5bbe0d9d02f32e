"""Where each generated position sits on screen: the answer wrapped like text.

The layout is computed once per width from each position's *shape*, the text it shows at the
end of the run (or, while a run is still arriving, its latest token). It does not depend on
the step being shown, so the grid does not jump while scrubbing: a position that is still
masked keeps the room of the token it will become, drawn as a placeholder.

Words wrap at token boundaries that follow whitespace; a newline inside a token ends the line;
a token longer than a line is split across lines. A position's slot is one or more *parts*,
each a run of cells on one line.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len

PLACEHOLDER = "·"


@dataclass(frozen=True)
class Part:
    pos: int
    index: int  # which part of the position's slot
    x: int
    width: int


class GridLayout:
    """Lines of parts for a given width; `parts_of[pos]` holds each position's text per part."""

    def __init__(self, shapes: Sequence[tuple[str, ...]], word_starts: Sequence[bool], width: int):
        self.width = max(2, width)
        self.lines: list[list[Part]] = [[]]
        self.parts_of: list[tuple[str, ...]] = []  # the shape's text cut into parts
        self.first_line: list[int] = []
        self.stripped: set[int] = set()  # positions whose leading spaces were dropped at a wrap
        self._line_x: list[list[int]] = [[]]
        self._x = 0
        word_widths = _word_widths(shapes, word_starts, self.width)
        for pos, shape in enumerate(shapes):
            self.first_line.append(-1)
            texts: list[str] = []
            for i, text in enumerate(shape):
                if i > 0:
                    self._new_line()
                elif word_starts[pos] and self._x > 0 and self._x + word_widths[pos] > self.width:
                    self._new_line()
                    word = text.lstrip(" ")
                    if word and word != text:  # a wrapped line starts at the word
                        self.stripped.add(pos)
                        text = word
                self._place(pos, text, texts)
            self.parts_of.append(tuple(texts))

    def _new_line(self) -> None:
        self.lines.append([])
        self._line_x.append([])
        self._x = 0

    def _place(self, pos: int, text: str, texts: list[str]) -> None:
        while text:
            room = self.width - self._x
            head, text = _split_cells(text, room, force=self._x == 0)
            if head:
                width = cell_len(head)
                if self.first_line[pos] < 0:
                    self.first_line[pos] = len(self.lines) - 1
                self.lines[-1].append(Part(pos, len(texts), self._x, width))
                self._line_x[-1].append(self._x)
                texts.append(head)
                self._x += width
            if text:
                self._new_line()

    @property
    def height(self) -> int:
        return len(self.lines)

    def part_widths(self, pos: int) -> tuple[int, ...]:
        return tuple(cell_len(text) for text in self.parts_of[pos])

    def position_at(self, x: int, y: int) -> int | None:
        """The position drawn at cell (x, y), or None if that cell is empty."""
        if not 0 <= y < len(self.lines):
            return None
        i = bisect.bisect_right(self._line_x[y], x) - 1
        if i < 0:
            return None
        part = self.lines[y][i]
        return part.pos if x < part.x + part.width else None


def _split_cells(text: str, room: int, force: bool) -> tuple[str, str]:
    """Split text so the head takes at most `room` cells; with force, the head is never empty."""
    if cell_len(text) <= room:
        return text, ""
    used = 0
    for i, char in enumerate(text):
        width = cell_len(char)
        if used + width > room:
            if i == 0 and force:
                return text[:1], text[1:]
            return text[:i], text[i:]
        used += width
    return text, ""


def _word_widths(shapes: Sequence[tuple[str, ...]], word_starts: Sequence[bool], limit: int) -> list[int]:
    """For each position that starts a word, the cells up to the next word start (capped at limit+1)."""
    widths = [0] * len(shapes)
    following = 0  # width of the word continuing after the current position
    for pos in range(len(shapes) - 1, -1, -1):
        shape = shapes[pos]
        own = cell_len(shape[0])
        width = own if len(shape) > 1 else own + following  # a newline ends the word
        widths[pos] = min(width, limit + 1)
        following = 0 if word_starts[pos] else widths[pos]
    return widths


def starts_word(previous: tuple[str, ...] | None, shape: tuple[str, ...], standalone: bool) -> bool:
    """Whether a line may break before a position with this shape."""
    if previous is None or standalone:
        return True
    return shape[0][:1].isspace() or previous[-1][-1:].isspace() or previous[-1] == ""


def placeholder(text: str) -> str:
    """A masked slot: the cells of the text it will hold, spaces kept, everything else a dot."""
    return "".join(" " if char == " " else PLACEHOLDER * cell_len(char) for char in text)


def fit(text: str, widths: tuple[int, ...]) -> tuple[str, ...]:
    """Flow text into parts of the given widths, padding with spaces or cutting with '…'."""
    out = []
    for i, width in enumerate(widths):
        last = i == len(widths) - 1
        head, text = _split_cells(text, width, force=False)
        if last and text:
            head, _ = _split_cells(head, width - 1, force=False)
            head += "…"
        out.append(head + " " * (width - cell_len(head)))
    return tuple(out)
