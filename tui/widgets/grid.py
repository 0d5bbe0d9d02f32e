"""The token grid: the generated region as wrapped text, each token a cell coloured by its commit step.

Masked positions are placeholders, in one of two layouts (w switches):
- plain (the default): one dot per masked position, the layout of what is shown at the step.
  Nothing about the answer shows before it is decided (as in live mode, which cannot know it);
  the text reflows as tokens land.
- future width: each masked position keeps the room of the token it will become, so the grid
  stays put while scrubbing, but its dots give away the shape of the words to come.

Line API: only the visible lines are drawn, each from a per-position bisect into the index.
A line's look at step t depends only on its layout, how many of its positions' changes
happened before t (and whether the last one is the current step's), so rendered strips are
cached under that key and a step that changes nothing on a line reuses its strip. A plain
layout is built per step (linear in the positions, kept for the last few steps visited).
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator
from enum import Enum

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.cache import LRUCache
from textual.events import Click, Resize
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from llada_tui.core.inert import inert_lines, inert_text
from llada_tui.core.run_index import RunIndex
from llada_tui.tui.layout import GridLayout, capped, fit, placeholder
from llada_tui.tui.order_overlay import OrderOverlay
from llada_tui.tui.palette import (
    CELL_CLASSES,
    SPECIAL_MARK,
    CellLooks,
    ColourMode,
    cell_looks,
    committed_style,
    look,
    shade,
)

UNKNOWN_SHAPE = ("·",)  # a masked position in a plain layout, or one never committed yet
TOKEN_KEYS = Binding.Group("Token")
LONG_TOKEN_CELLS = 12
PLAIN_LAYOUTS_KEPT = 16  # plain layouts of the steps visited last: stepping back and forth is free


class Placeholders(Enum):
    PLAIN = "plain"
    FUTURE_WIDTH = "future width"


class _Shape:
    """A token's room in the grid and how lines may break around it.

    A line may break before and after a long token as around a word: a run of long tokens
    glued together is no word anyone reads, and splitting each over two lines costs more.
    """

    __slots__ = ("lines", "leading_space", "breaks_after", "standalone")

    def __init__(self, lines: tuple[str, ...], standalone: bool):
        long = cell_len(lines[0]) > LONG_TOKEN_CELLS
        self.lines = lines
        self.leading_space = lines[0][:1].isspace()
        self.breaks_after = long or lines[-1][-1:].isspace() or lines[-1] == ""
        self.standalone = standalone or long


class _Flow:
    """A row of tokens as the layout sees them (their shapes and where lines may break), patched
    position by position, and the layout last built from it: a change lays out only the text
    after it (see GridLayout's resume)."""

    def __init__(self, shapes: list[_Shape]):
        self.shapes = shapes
        self.lines = [shape.lines for shape in shapes]
        self.starts = starts = [True] * len(shapes)
        for pos in range(1, len(shapes)):
            shape = shapes[pos]
            starts[pos] = shape.standalone or shape.leading_space or shapes[pos - 1].breaks_after
        self.layout: GridLayout | None = None
        self.serial = 0
        self._first_changed: int | None = 0  # since the layout was built; None: nothing

    def _update_start(self, pos: int) -> None:
        shape = self.shapes[pos]
        self.starts[pos] = pos == 0 or shape.standalone or shape.leading_space or self.shapes[pos - 1].breaks_after

    def set(self, pos: int, shape: _Shape) -> None:
        if self.shapes[pos] is shape:
            return
        self.shapes[pos], self.lines[pos] = shape, shape.lines
        self._update_start(pos)
        if pos + 1 < len(self.shapes):
            self._update_start(pos + 1)
        self._first_changed = pos if self._first_changed is None else min(self._first_changed, pos)

    def layout_for(self, width: int, serials: Iterator[int]) -> tuple[int, GridLayout]:
        """(serial, layout) of the row as it is now; a new serial only if the layout is new."""
        stale = self.layout is None or self.layout.width != max(2, width)
        if stale or self._first_changed is not None:
            resume = None if stale else self.layout
            self.layout = GridLayout(self.lines, self.starts, width, resume, self._first_changed or 0)
            self.serial, self._first_changed = next(serials), None
        return self.serial, self.layout


class TokenGrid(ScrollView, can_focus=True, inherit_bindings=False):
    COMPONENT_CLASSES = {"token-grid--cursor", "token-grid--cursor-mono", *CELL_CLASSES}  # styled in player.tcss
    # Not the scroll keys of Textual's scrolling widgets: Home, End, PgUp and PgDn are the
    # player's step keys even when the answer is longer than the grid. Scrolling has its own.
    BINDINGS = [
        Binding(
            "up",
            "scroll_lines(-1)",
            "Scroll the answer",
            key_display="↑",
            show=False,
            tooltip="Scroll the answer a line (the mouse wheel too); Home, End, PgUp, PgDn move in time",
            id="scroll-up",
        ),
        Binding("down", "scroll_lines(1)", "Scroll the answer", key_display="↓", show=False, id="scroll-down"),
        Binding("shift+up", "scroll_pages(-1)", "Scroll the answer a page", show=False, id="scroll-page-up"),
        Binding("shift+down", "scroll_pages(1)", "Scroll the answer a page", show=False, id="scroll-page-down"),
        Binding(
            "tab",
            "move_cursor(1)",
            "Next token",
            key_display="tab",
            group=TOKEN_KEYS,
            tooltip="Pick the next token (or click one): the Token panel describes it, or where the panels are "
            "hidden (narrow), a line under the answer",
            id="cursor-next",
        ),
        Binding(
            "shift+tab",
            "move_cursor(-1)",
            "Previous token",
            key_display="⇧tab",
            group=TOKEN_KEYS,
            tooltip="Pick the previous token",
            id="cursor-previous",
        ),
        Binding(
            "escape", "clear_cursor", "Clear cursor", show=False, tooltip="Put the picked token down", id="cursor-clear"
        ),
    ]

    class CursorMoved(Message):
        def __init__(self, pos: int | None) -> None:
            super().__init__()
            self.pos = pos

    def __init__(self, recording: RunIndex, *, id: str | None = None):
        super().__init__(id=id)
        self.recording = recording
        self.t = 0
        self.mode = ColourMode.STEP
        self.placeholders = Placeholders.PLAIN
        self.cursor: int | None = None
        self.monochrome = False
        self.grid_layout: GridLayout | None = None
        self._serial = 0  # of the layout shown: part of every cached strip's key
        self._serials = itertools.count(1)
        self._future_ids: list[int] = []  # per position: the token whose text gives it its future room
        self._future: _Flow | None = None  # those tokens, for the future-width layout
        self._ids: list[int] = []  # the tokens after _ids_t steps (kept up to date step by step)
        self._now: _Flow | None = None  # those tokens, for the plain layouts
        self._plain: LRUCache[int, tuple[int, GridLayout]] = LRUCache(PLAIN_LAYOUTS_KEPT)
        self._ids_t = 0
        self._shapes: dict[int, _Shape] = {}
        self._line_changes: dict[int, list[int]] = {}  # line -> sorted steps that changed a position on it
        self._strips: LRUCache[tuple, Strip] = LRUCache(2048)
        self._drawn: dict[int, tuple] = {}  # line -> key of the strip last drawn there
        self._base = Style()
        self._cursor_style = Style()
        self._looks = CellLooks(Style(), Style(), None, Style(), Style())
        self._slot_texts: dict[tuple[int, int], tuple[str, ...]] = {}
        self.overlay: OrderOverlay | None = None  # the order overlay's ranks and span (ColourMode.ORDER)
        self.differs: frozenset[int] = frozenset()  # compare: positions not in the other run's final text
        self._marks = 0  # counts changes of the two above: part of every cached strip's key
        self._mark_looks = (Style(), Style(), Style())  # the answer span's, its lead-in's, differs

    # ------------------------------------------------------------------ feeding

    def reset(self) -> None:
        """Start again from the recording (a header or a whole file arrived)."""
        n = self.recording.gen_length
        self._future_ids = [self._latest_token(pos) for pos in range(n)]
        self._ids = [self.recording.mask_id] * n
        self._ids_t = 0
        self._forget_layouts()
        self._install(self.t)

    def steps_added(self, first_step: int) -> None:
        """Steps from `first_step` on were added to the recording (following a growing run)."""
        if self.grid_layout is None:
            self.reset()
            return
        self._line_changes.clear()
        self._strips.clear()
        self._drawn.clear()
        changed = {pos for step in self.recording.steps[first_step:] for pos in step.positions}
        for pos in changed:
            latest = self._latest_token(pos)
            if latest != self._future_ids[pos]:
                self._future_ids[pos] = latest
                if self._future is not None:
                    self._future.set(pos, self._shape(latest))
                self._slot_texts.clear()
        # a plain layout at t depends on the first t steps only: those up to first_step still hold
        for t in [t for t in self._plain.keys() if t > first_step]:
            self._plain.discard(t)
        self._install(self.t)

    def set_placeholders(self, placeholders: Placeholders) -> None:
        self.placeholders = placeholders
        self._install(self.t)

    def _latest_token(self, pos: int) -> int:
        """The last token pos held that was not the mask, or the mask id if it never held one."""
        mask_id = self.recording.mask_id
        for _, token_id, _ in reversed(self.recording.history(pos)):
            if token_id != mask_id:
                return token_id
        return mask_id

    def _shape(self, token_id: int) -> _Shape:
        shape = self._shapes.get(token_id)
        if shape is None:
            if self.recording.is_mask(token_id):
                shape = _Shape(UNKNOWN_SHAPE, standalone=True)
            elif token_id in self.recording.hidden_ids:
                shape = _Shape((SPECIAL_MARK,), standalone=True)
            else:
                shape = _Shape(capped(inert_lines(self.recording.text(token_id))), standalone=False)
            self._shapes[token_id] = shape
        return shape

    def _layout_for(self, t: int) -> tuple[int, GridLayout]:
        """(serial, layout) to show step t with."""
        width = self.scrollable_content_region.width
        if self.placeholders is Placeholders.FUTURE_WIDTH:
            if self._future is None:
                self._future = _Flow(self._shapes_of(self._future_ids))
            return self._future.layout_for(width, self._serials)
        found = self._plain.get(t)
        if found is None:
            changed = self._move_to(t)
            if self._now is None or len(changed) > len(self._ids) // 8:  # a long jump: start afresh
                self._now = _Flow(self._shapes_of(self._ids))
            else:
                for pos in changed:
                    self._now.set(pos, self._shape(self._ids[pos]))
            found = self._plain[t] = self._now.layout_for(width, self._serials)
        return found

    def _shapes_of(self, ids: list[int]) -> list[_Shape]:
        known = self._shapes
        return [known.get(token_id) or self._shape(token_id) for token_id in ids]

    def _move_to(self, t: int) -> set[int]:
        """Bring the tokens in `_ids` to those after t steps; the positions that may have changed.

        From the tokens at the last t asked, or from the start if that is nearer: the cost is
        the changes in between, not the length of the answer."""
        ids, at, steps = self._ids, self._ids_t, self.recording.steps
        if t < at and t < at - t:  # nearer the start: replay the first t steps on a masked answer
            changed = {pos for pos, token_id in enumerate(ids) if token_id != self.recording.mask_id}
            ids[:] = [self.recording.mask_id] * len(ids)
            at = 0
        else:
            changed = set()
        if t >= at:
            for step in steps[at:t]:
                changed.update(step.positions)
                for pos, token_id in zip(step.positions, step.ids):
                    ids[pos] = token_id
        else:
            token_at = self.recording.token_at
            changed = {pos for step in steps[t:at] for pos in step.positions}
            for pos in changed:
                ids[pos] = token_at(pos, t)
        self._ids_t = t
        return changed

    def _forget_layouts(self) -> None:
        self._future = self._now = None
        self._plain.clear()
        self._slot_texts.clear()

    def _install(self, t: int) -> bool:
        """Show the layout for step t; whether it is another than the one shown."""
        if not self.recording.ready or self.scrollable_content_region.width <= 0:
            return False
        serial, layout = self._layout_for(t)
        if serial == self._serial:
            return False
        self._serial, self.grid_layout = serial, layout
        self._line_changes.clear()
        self._drawn.clear()
        self.virtual_size = Size(layout.width, layout.height)
        self.refresh()
        return True

    def on_resize(self, event: Resize) -> None:
        if self.grid_layout is None or self.grid_layout.width != self.scrollable_content_region.width:
            self._forget_layouts()
            self._strips.clear()
            self._install(self.t)
        else:
            self._drawn.clear()

    # ------------------------------------------------------------------ state

    def show(self, t: int, keep_in_view: bool = False) -> None:
        """Draw the grid as it was after t steps; with keep_in_view (playing), scroll to the
        step's tokens if none of them is in view.

        Only the lines that look different at t are repainted: one step usually changes a few.
        """
        self.t = t
        relaid = self._install(t)
        layout = self.grid_layout
        if layout is None:
            return
        top, height = round(self.scroll_y), self.scrollable_content_region.height
        if keep_in_view and 0 < t <= self.recording.length:
            lines = [layout.first_line[pos] for pos in self.recording.steps[t - 1].positions]
            if lines and not any(top <= line < top + height for line in lines):
                self.scroll_to_region(Region(0, min(lines), 1, 1), animate=False, center=True)
                return  # scrolling repaints everything
        if relaid:
            return  # a new layout repaints everything
        for line in range(top, min(top + height, layout.height)):
            if self._drawn.get(line) != self._line_key(line):
                self.refresh_lines(line)

    def set_mode(self, mode: ColourMode) -> None:
        self.mode = mode
        self.refresh()

    def set_order(self, overlay: OrderOverlay | None) -> None:
        """The order overlay to draw in ColourMode.ORDER (None: none yet)."""
        self.overlay = overlay
        self._marks += 1
        self.refresh()

    def set_differs(self, positions: frozenset[int]) -> None:
        """Mark these positions' tokens as not in the other run's final text (compare)."""
        if positions != self.differs:
            self.differs = positions
            self._marks += 1
            self.refresh()

    def set_cursor(self, pos: int | None) -> None:
        if pos is not None and not 0 <= pos < self.recording.gen_length:
            return
        self.cursor = pos
        self.refresh()
        if pos is not None and self.grid_layout is not None:
            part = self.grid_layout.parts(pos)[0]
            self.scroll_to_region(Region(part.x, part.line, part.width, 1), animate=False)
        self.post_message(self.CursorMoved(pos))

    def action_move_cursor(self, delta: int) -> None:
        n = self.recording.gen_length
        if not n:
            return
        if self.cursor is None:
            self.set_cursor(0 if delta > 0 else n - 1)
        else:
            self.set_cursor((self.cursor + delta) % n)

    def action_clear_cursor(self) -> None:
        self.set_cursor(None)

    def action_scroll_lines(self, lines: int) -> None:
        self.scroll_relative(y=lines, animate=False)

    def action_scroll_pages(self, pages: int) -> None:
        self.scroll_relative(y=pages * self.scrollable_content_region.height, animate=False)

    def on_click(self, event: Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or self.grid_layout is None:
            return
        pos = self.grid_layout.position_at(offset.x + round(self.scroll_x), offset.y + round(self.scroll_y))
        if pos is not None:
            self.set_cursor(pos)

    # ------------------------------------------------------------------ drawing

    def _line_key(self, line: int) -> tuple:
        """All a line's look depends on: its layout, how many of its changes happened before t, and more."""
        changes = self._changes_on(line)
        seen = bisect.bisect_left(changes, self.t)
        current = seen > 0 and changes[seen - 1] == self.t - 1
        positions = self.grid_layout.line_positions(line)
        cursor = self.cursor if self.cursor is not None and self.cursor in positions else -1
        return (self._serial, line, seen, current, cursor, self.mode, self.monochrome, self._marks)

    def _changes_on(self, line: int) -> list[int]:
        """The sorted steps that changed a position on the line (worked out when the line is drawn)."""
        changes = self._line_changes.get(line)
        if changes is None:
            history = self.recording.history
            steps = {change[0] for pos in self.grid_layout.line_positions(line) for change in history(pos)}
            changes = self._line_changes[line] = sorted(steps)
        return changes

    def render_lines(self, crop: Region) -> list[Strip]:
        self._base = self.rich_style  # once per repaint, not per line
        cursor = "token-grid--cursor-mono" if self.monochrome else "token-grid--cursor"
        # the default: a grid removed for live mode's next run may paint once after its styles are gone
        self._cursor_style = self.get_component_rich_style(cursor, partial=True, default=Style())
        self._looks = cell_looks(self, self.monochrome)
        differs = "differs-mono" if self.monochrome else "differs"
        self._mark_looks = (look(self, "answer"), look(self, "lead-in"), look(self, differs))
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        line = round(self.scroll_y) + y
        width = self.scrollable_content_region.width
        if self.grid_layout is None or line >= self.grid_layout.height:
            return Strip.blank(width, self._base)
        key = self._line_key(line)
        strip = self._strips.get(key)
        if strip is None:
            strip = self._render_strip(line, self._base).extend_cell_length(width, self._base)
            self._strips[key] = strip
        self._drawn[line] = key
        return strip

    def _render_strip(self, line: int, base: Style) -> Strip:
        index = self.recording
        marks = index.header.revises  # a sampler that revises: mark the positions it changed its mind on
        segments = []
        x = 0
        for part in self.grid_layout.line_parts(line):
            token_id, step, confidence = index.cell_at(part.pos, self.t)
            style = base + self._cell_style(part.pos, token_id, step, confidence, marks and self._rewritten(part.pos))
            if part.pos == self.cursor:
                style += self._cursor_style
            segments.append(Segment(self._slot_text(part.pos, token_id)[part.index], style))
            x = part.x + part.width
        return Strip(segments, x)

    def _cell_style(self, pos: int, token_id: int, step: int, confidence: float, rewritten: bool) -> Style:
        """A cell's look; rewritten: it held a token before the one it shows, or holds none now."""
        if self.recording.is_mask(token_id) and not (step >= 0 and step == self.t - 1):
            return self._looks.remasked if rewritten else self._looks.masked
        if step >= 0 and step == self.t - 1:
            looks = self._looks.current
        elif self.mode is ColourMode.ORDER:
            looks = self._order_look(pos)
        else:
            looks = committed_style(self.mode, step, self.recording.total_steps, confidence, self._looks.thirds)
        if rewritten:
            looks += self._looks.revised
        if self.recording.is_mask(token_id):
            return looks
        answer, lead_in, differs = self._mark_looks
        if self.mode is ColourMode.ORDER and self.overlay is not None:
            if pos in self.overlay.span:
                looks += answer
            elif pos in self.overlay.lead_in:
                looks += lead_in
        return looks + differs if pos in self.differs else looks

    def _order_look(self, pos: int) -> Style:
        """The order overlay's shade: the rank of the step that gave pos its final text."""
        rank = None if self.overlay is None else self.overlay.ranks[pos]
        if rank is None:  # not part of the answer's text (a special token), or not known yet
            return self._looks.masked
        return shade(ColourMode.ORDER, rank, self._looks.thirds)

    def _rewritten(self, pos: int) -> bool:
        """Whether pos changed more than once in the steps shown: its first token was revised or
        masked again (and maybe committed again since)."""
        steps = [change.step for change in self.recording.history(pos)]
        return bisect.bisect_left(steps, self.t) > 1

    def _slot_text(self, pos: int, token_id: int) -> tuple[str, ...]:
        """What a token looks like in pos's slot, one string per part."""
        layout = self.grid_layout
        if self.placeholders is Placeholders.PLAIN:
            return layout.texts(pos)  # laid out for what is shown
        key = (pos, token_id)
        texts = self._slot_texts.get(key)
        if texts is None:
            parts = layout.texts(pos)
            if self.recording.is_mask(token_id):
                texts = tuple(placeholder(part) for part in parts)
            elif token_id == self._future_ids[pos]:
                texts = parts
            else:
                hidden = token_id in self.recording.hidden_ids
                text = SPECIAL_MARK if hidden else inert_text(self.recording.text(token_id))
                if pos in layout.stripped:
                    text = text.lstrip(" ") or text
                texts = fit(text, layout.part_widths(pos))
            self._slot_texts[key] = texts
        return texts
