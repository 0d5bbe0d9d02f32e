"""The answer as a picture shows it after t steps: a cell per generated position, laid out in lines.

Shared by the SVG, HTML and GIF. Every position has one slot on one line, the same at every
step, so that an animation stands still while tokens land: the room of the widest token the
position ever held (its last, for a sampler that never revises), at most MAX_TOKEN_CELLS
cells. A still-masked position shows dots in that room (spaces kept, as the player's "future
width" placeholders), a special token one ⋄. Words wrap at token boundaries next to
whitespace; a token holding a newline ends its line; at a wrap a token's leading space goes.

Token texts come from the trace and are hostile: every text here has been through
core.inert (control characters, bidi overrides and the like as visible marks, a newline as ↵)
and is cut to its room, but it is still text: each format escapes it for its own syntax.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from enum import Enum

from rich.cells import cell_len, get_character_cell_size

from llada_tui.core.inert import inert_text
from llada_tui.core.run_index import RunIndex
from llada_tui.pictures.shading import Shading

MAX_TOKEN_CELLS = 32  # a trace may hold a token of a thousand characters; a picture shows its start
MIN_COLUMNS = MAX_TOKEN_CELLS + 8
LONG_TOKEN_CELLS = 12  # a token this long is a word of its own: a line may break on either side of it
PLACEHOLDER = "·"
SPECIAL_MARK = "⋄"
CUT_MARK = "…"


class Kind(Enum):
    TOKEN = "token"
    MASKED = "masked"  # still masked, or masked again by a revising sampler
    SPECIAL = "special"  # end of text, end of turn...: one ⋄


@dataclass(frozen=True)
class Slot:
    """Where a position sits: line and column in character cells, and how many cells it takes."""

    pos: int
    line: int
    column: int
    width: int
    room: str  # the text the slot was made for (inert, cut), leading space dropped at a wrap
    stripped: bool  # its leading space was dropped at a wrap


@dataclass(frozen=True)
class Cell:
    """A position as shown after t steps."""

    pos: int
    text: str  # inert, exactly the slot's width in cells
    kind: Kind
    step: int  # the step (from 0) that set what it shows; -1: masked from the start
    confidence: float
    revised: bool  # it held another token before, or was masked again (a revising sampler)
    current: bool  # set by the last step shown (never at the end of the run)


def head(text: str, width: int) -> str:
    """The longest start of the text that takes at most `width` cells."""
    used = 0
    for i, char in enumerate(text):
        used += get_character_cell_size(char)
        if used > width:
            return text[:i]
    return text


def cut(text: str, width: int) -> str:
    """The text in at most `width` cells, with … where it was cut."""
    return text if cell_len(text) <= width else head(text, width - 1) + CUT_MARK


def fit(text: str, width: int) -> str:
    """The text in exactly `width` cells: cut, or padded with spaces."""
    text = cut(text, width)
    return text + " " * (width - cell_len(text))


def placeholder(room: str) -> str:
    """Dots in a token's room, its spaces kept."""
    return "".join(" " if char == " " else PLACEHOLDER * get_character_cell_size(char) for char in room)


class AnswerPicture:
    """The slots of a run's answer for lines of `columns` cells, and its cells after any t steps."""

    def __init__(self, run: RunIndex, columns: int = 80):
        assert run.header is not None, "a run without a header"
        self.run = run
        self.columns = max(MIN_COLUMNS, columns)
        self.slots: list[Slot] = []
        self.lines = 0
        self._lay_out()

    # ------------------------------------------------------------------ the layout (all steps)

    def _room(self, pos: int) -> tuple[str, bool]:
        """The text a position is given room for, and whether a newline ends its line."""
        run = self.run
        texts = [change.token_id for change in run.history(pos) if change.token_id != run.mask_id]
        if not texts:
            return PLACEHOLDER, False
        if texts[-1] in run.hidden_ids:
            return SPECIAL_MARK, False
        shown = [cut(inert_text(run.text(token_id)), MAX_TOKEN_CELLS) for token_id in texts]
        room = shown[-1] + " " * (max(map(cell_len, shown)) - cell_len(shown[-1]))
        return room, "\n" in run.text(texts[-1])

    def _lay_out(self) -> None:
        rooms = [self._room(pos) for pos in range(self.run.gen_length)]
        words: list[list[int]] = []  # positions glued together: a line breaks only between words
        for pos, (room, _) in enumerate(rooms):
            previous = rooms[pos - 1] if pos else None
            starts = (
                previous is None
                or previous[1]
                or room[:1].isspace()
                or previous[0][-1:].isspace()
                or SPECIAL_MARK in (room, previous[0])
                or PLACEHOLDER in (room, previous[0])
                or cell_len(room) > LONG_TOKEN_CELLS
                or cell_len(previous[0]) > LONG_TOKEN_CELLS
            )
            if starts:
                words.append([pos])
            else:
                words[-1].append(pos)
        line, column = 0, 0
        for word in words:
            width = sum(cell_len(rooms[pos][0]) for pos in word)
            if column and column + width > self.columns:
                line, column = line + 1, 0
            for pos in word:
                room, newline = rooms[pos]
                if column and column + cell_len(room) > self.columns:  # a word longer than a line
                    line, column = line + 1, 0
                stripped = column == 0 and line > 0 and room.startswith(" ") and len(room) > 1
                if stripped:
                    room = room[1:]  # at a wrap, as in a book
                self.slots.append(Slot(pos, line, column, cell_len(room), room, stripped))
                column += cell_len(room)
                if newline:
                    line, column = line + 1, 0
        self.lines = line + (1 if column or not self.slots else 0)

    # ------------------------------------------------------------------ the cells after t steps

    def cells_at(self, t: int) -> list[Cell]:
        run = self.run
        revises = run.header.revises
        current_step = t - 1 if t < run.length else -2  # the end of the run is no step in progress
        cells = []
        for slot in self.slots:
            token_id, step, confidence = run.cell_at(slot.pos, t)
            if token_id == run.mask_id:
                kind, text = Kind.MASKED, placeholder(slot.room)
            elif token_id in run.hidden_ids:
                kind, text = Kind.SPECIAL, fit(SPECIAL_MARK, slot.width)
            else:
                kind, text = Kind.TOKEN, self._token_text(slot, token_id)
            revised = revises and self._changes_before(slot.pos, t) > 1
            cells.append(Cell(slot.pos, text, kind, step, confidence, revised, step == current_step))
        return cells

    def _token_text(self, slot: Slot, token_id: int) -> str:
        text = inert_text(self.run.text(token_id))
        if slot.stripped and text.startswith(" "):
            text = text[1:]
        return fit(text, slot.width)

    def _changes_before(self, pos: int, t: int) -> int:
        return bisect.bisect_left([change.step for change in self.run.history(pos)], t)


def cell_note(cell: Cell) -> str:
    """What a viewer's tooltip says of a cell."""
    if cell.kind is Kind.MASKED:
        return f"pos {cell.pos}: masked again" if cell.revised else f"pos {cell.pos}: masked"
    note = f"pos {cell.pos} · step {cell.step + 1} · confidence {cell.confidence:.2f}"
    return note + " · revised" if cell.revised else note


def prompt_lines(run: RunIndex, columns: int, max_lines: int = 4) -> list[str]:
    """The prompt, inert, wrapped at spaces into lines of at most `columns` cells; … if cut."""
    assert run.header is not None
    lines: list[str] = []
    words: list[str] = []  # of the line being filled
    used = 0  # its cells
    for word in inert_text(run.header.prompt_text).split(" "):
        size = cell_len(word)
        if not words or used + 1 + size <= columns:
            words.append(word)
            used += size + (1 if len(words) > 1 else 0)
            if used <= columns:
                continue
            words.pop()  # a first word longer than a line
        if words:
            lines.append(" ".join(words))
        while cell_len(word) > columns:  # a word longer than a line
            start = head(word, columns) or word[0]
            lines.append(start)
            word = word[len(start) :]
        words, used = [word], cell_len(word)
        if len(lines) > max_lines:
            break
    lines.append(" ".join(words))
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = head(lines[-1], columns - 1) + CUT_MARK
    return lines


def scale_labels(run: RunIndex, shading: Shading) -> tuple[str, str, str]:
    """The legend's title and the labels at the two ends of its scale."""
    if shading is Shading.STEP:
        return "commit step", "1", str(max(1, run.total_steps))
    return "confidence", "0", "1"
