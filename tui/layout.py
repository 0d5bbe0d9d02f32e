"""Where each generated position sits on screen: the answer wrapped like text.

The layout is computed for a width from each position's *shape*, the text it is given room
for (see the grid for which: the token shown at the step, or the token it will become).
Words wrap at token boundaries that follow whitespace; a newline inside a token ends the
line; a token longer than a line is split across lines. A position's slot is one or more
*parts*, each a run of cells on one line.

Built in one pass, linear in the number of cells: the grid lays out again whenever what is
shown changes shape, and a trace can hold 32768 positions. Most positions fit on their line
in one part, so per position the layout keeps only its first line, its x and its texts;
positions split over several lines keep their parts aside.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence
from typing import NamedTuple

from rich.cells import cell_len, get_character_cell_size

PLACEHOLDER = "·"
CUT_MARK = "…"
# A token's room in the grid is bounded: a trace may hold texts of a thousand characters, and a
# long answer of them would be a grid of hundreds of thousands of lines. The Token panel shows more.
MAX_SHAPE_CELLS = 24
MAX_SHAPE_LINES = 3


class Part(NamedTuple):
    pos: int
    index: int  # which part of the position's slot
    x: int
    width: int
    line: int


class GridLayout:
    """Lines of parts for a given width.

    With `resume` (the layout of the same positions before some of them changed shape, the
    first at `first_changed`), the lines before the change are taken over and only the rest is
    laid out: stepping through a long answer costs the text after the change, and a tail of
    masked dots is laid out a line at a time.
    """

    def __init__(
        self,
        shapes: Sequence[tuple[str, ...]],
        word_starts: Sequence[bool],
        width: int,
        resume: GridLayout | None = None,
        first_changed: int = 0,
    ):
        self.width = width = max(2, width)
        n = len(shapes)
        self._split: dict[int, tuple[Part, ...]] = {}  # positions of more than one part
        self.stripped: set[int] = set()  # positions whose leading spaces were dropped at a wrap
        start, line = 0, 0
        if resume is not None and resume.width == width and len(resume) == n:
            start, line = resume._resume_point(word_starts, first_changed)
        if start:
            self.first_line = resume.first_line[:start]
            self.xs = resume.xs[:start]
            self._texts = resume._texts[:start]
            self.line_start = resume.line_start[: line + 1]
            self._split = {pos: parts for pos, parts in resume._split.items() if pos < start}
            self.stripped = {pos for pos in resume.stripped if pos <= start}
        else:
            self.first_line = array("i")  # per position: the line of its first part
            self.xs = array("i")  # per position: the x of its first part
            self._texts = []  # per position: its text, cut into parts
            self.line_start = array("i", [0])  # per line: the first position with a part on it
        self.height = self._place(shapes, word_starts, start, line) + 1

    def _resume_point(self, word_starts: Sequence[bool], first_changed: int) -> tuple[int, int]:
        """(position, line) to lay out again from: the start of the line before the one holding the
        changed position's word, so that every decision taken before it still holds."""
        word = min(first_changed, len(self) - 1)
        while word > 0 and not word_starts[word]:
            word -= 1
        line = self.first_line[max(0, word - 1)] - 1  # the word before can be pulled back by the change
        while line > 0 and self.first_line[self.line_start[line]] != line:
            line -= 1  # that line continues a token split over lines: start where the token starts
        if line <= 0:
            return 0, 0
        return self.line_start[line], line

    def _place(self, shapes: Sequence[tuple[str, ...]], word_starts: Sequence[bool], start: int, line: int) -> int:
        """Lay out positions from `start`, which begins `line`; returns the last line."""
        width, n = self.width, len(shapes)
        first_line, xs, texts, line_start = self.first_line, self.xs, self._texts, self.line_start
        x = 0
        pos = start
        while pos < n:
            shape = shapes[pos]
            text = shape[0]
            used = cell_len(text)
            if used == 1 and len(shape) == 1 and word_starts[pos]:
                end = pos + 1  # a run of one-cell words (masked dots): laid out a line at a time
                while end < n and shapes[end] is shape and word_starts[end]:
                    end += 1
                if end < n and not word_starts[end]:
                    end -= 1  # the last one's word goes on: the general case
                if end > pos:
                    while pos < end:
                        if x == width:
                            line, x = line + 1, 0
                            line_start.append(pos)
                        count = min(end - pos, width - x)
                        first_line.extend(array("i", [line]) * count)
                        xs.extend(range(x, x + count))
                        texts.extend([shape] * count)
                        pos, x = pos + count, x + count
                    continue
            wrapped = False
            if word_starts[pos] and x:
                alone = len(shape) > 1 or pos + 1 == n or word_starts[pos + 1]  # a word of one token
                wrapped = x + (used if alone else self._word_width(shapes, word_starts, pos)) > width
            if wrapped or (pos == start and pos in self.stripped):
                if wrapped:
                    line, x = line + 1, 0
                    line_start.append(pos)
                word = text.lstrip(" ")
                if word != text and cell_len(word[:1]):  # a wrapped line starts at the word (not a bare mark)
                    self.stripped.add(pos)
                    used -= len(text) - len(word)
                    text = word
            if len(shape) == 1 and x + used <= width:  # the common case: one part, on this line
                first_line.append(line)
                xs.append(x)
                texts.append(shape if text is shape[0] else (text,))
                x += used
                pos += 1
                continue
            parts: list[Part] = []
            pieces: list[str] = []
            for i, piece in enumerate((text, *shape[1:])):
                if i:
                    line, x = line + 1, 0
                    line_start.append(pos)
                for k, head in enumerate(_cut(piece, width - x, width)):
                    if k:  # each piece after the first goes on the next line
                        line, x = line + 1, 0
                        line_start.append(pos)
                    if head:
                        head_width = cell_len(head)
                        parts.append(Part(pos, len(parts), x, head_width, line))
                        pieces.append(head)
                        x += head_width
            first_line.append(parts[0].line)
            xs.append(parts[0].x)
            texts.append(tuple(pieces))
            if len(parts) > 1:
                self._split[pos] = tuple(parts)
            pos += 1
        return line

    def _word_width(self, shapes: Sequence[tuple[str, ...]], word_starts: Sequence[bool], pos: int) -> int:
        """The cells from pos up to the next word start (a newline ends a word), capped at width+1."""
        total, cap, n = 0, self.width + 1, len(shapes)
        while True:
            total += cell_len(shapes[pos][0])
            pos += 1
            if len(shapes[pos - 1]) > 1 or total >= cap or pos == n or word_starts[pos]:
                return min(total, cap)

    # ------------------------------------------------------------------ queries

    def __len__(self) -> int:
        return len(self.first_line)

    def texts(self, pos: int) -> tuple[str, ...]:
        """pos's shape text, cut into its parts."""
        return self._texts[pos]

    def parts(self, pos: int) -> tuple[Part, ...]:
        split = self._split.get(pos)
        if split is not None:
            return split
        text = self._texts[pos][0]
        return (Part(pos, 0, self.xs[pos], cell_len(text), self.first_line[pos]),)

    def part_widths(self, pos: int) -> tuple[int, ...]:
        return tuple(part.width for part in self.parts(pos))

    def last_line(self, pos: int) -> int:
        split = self._split.get(pos)
        return split[-1].line if split else self.first_line[pos]

    def line_parts(self, line: int) -> list[Part]:
        """The parts on a line, left to right."""
        if not 0 <= line < len(self.line_start):
            return []
        found = []
        pos = self.line_start[line]
        first_line = self.first_line
        while pos < len(first_line) and first_line[pos] <= line:
            split = self._split.get(pos)
            if split is not None:
                found.extend(part for part in split if part.line == line)
            elif first_line[pos] == line:
                found.append(Part(pos, 0, self.xs[pos], cell_len(self._texts[pos][0]), line))
            pos += 1
        return found

    def line_positions(self, line: int) -> range:
        """The positions with a part on a line."""
        parts = self.line_parts(line)
        return range(parts[0].pos, parts[-1].pos + 1) if parts else range(0)

    def position_at(self, x: int, y: int) -> int | None:
        """The position drawn at cell (x, y), or None if that cell is empty."""
        for part in self.line_parts(y):
            if part.x <= x < part.x + part.width:
                return part.pos
        return None


def _cut(text: str, room: int, width: int) -> Iterator[str]:
    """Cut text into pieces for consecutive lines: the first of at most `room` cells, the others
    of at most `width`. The first is empty when nothing fits in `room` on a line that already
    holds something. One pass over the text."""
    cells = cell_len(text)
    if cells <= room:
        yield text
        return
    if cells == len(text):  # one cell per character (most text): cut by slicing
        yield text[:room]
        yield from (text[at : at + width] for at in range(room, len(text), width))
        return
    start = used = 0
    at_line_start = room >= width
    for i, char in enumerate(text):
        char_width = get_character_cell_size(char)
        if used + char_width > room and (i > start or not at_line_start):
            yield text[start:i]
            start, used, room, at_line_start = i, 0, width, True
        used += char_width
    if start < len(text):
        yield text[start:]


def starts_word(previous: tuple[str, ...] | None, shape: tuple[str, ...], standalone: bool) -> bool:
    """Whether a line may break before a position with this shape."""
    if previous is None or standalone:
        return True
    return shape[0][:1].isspace() or previous[-1][-1:].isspace() or previous[-1] == ""


def capped(
    lines: tuple[str, ...], max_cells: int = MAX_SHAPE_CELLS, max_lines: int = MAX_SHAPE_LINES
) -> tuple[str, ...]:
    """A token's lines cut to at most max_cells cells and max_lines lines, a cut marked with '…'."""
    total = sum(cell_len(line) for line in lines)
    if total <= max_cells and len(lines) <= max_lines:
        return lines
    kept: list[str] = []
    room = max_cells - 1  # one cell for the mark
    for line in lines[:max_lines]:
        head, rest = _head(line, room)
        kept.append(head)
        room -= cell_len(head)
        if rest or room <= 0:
            break
    kept[-1] = kept[-1] + CUT_MARK
    return tuple(kept)


def _head(text: str, room: int) -> tuple[str, str]:
    """Split text after at most `room` cells."""
    used = 0
    for i, char in enumerate(text):
        used += get_character_cell_size(char)
        if used > room:
            return text[:i], text[i:]
    return text, ""


def placeholder(text: str) -> str:
    """A masked slot: the cells of the text it will hold, spaces kept, everything else a dot."""
    return "".join(" " if char == " " else PLACEHOLDER * cell_len(char) for char in text)


def fit(text: str, widths: tuple[int, ...]) -> tuple[str, ...]:
    """Flow text into parts of the given widths, padding with spaces or cutting with '…'."""
    out = []
    for i, width in enumerate(widths):
        last = i == len(widths) - 1
        head, text = _head(text, width)
        if last and text:
            head, _ = _head(head, width - 1)
            head += CUT_MARK
        out.append(head + " " * (width - cell_len(head)))
    return tuple(out)
