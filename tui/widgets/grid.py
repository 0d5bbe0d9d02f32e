"""The token grid: the generated region as wrapped text, each token a cell coloured by its commit step.

Line API: only the visible lines are drawn, each from a per-position bisect into the index.
A line's look at step t depends only on how many of its positions' changes happened before t
(and on whether the last one is the current step's), so rendered strips are cached under that
key and a step that changes nothing on a line reuses its strip: scrubbing costs what is on
screen, whatever the length of the run.
"""

from __future__ import annotations

import bisect

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
from llada_tui.tui.layout import GridLayout, fit, placeholder, starts_word
from llada_tui.tui.palette import (
    CURRENT,
    CURRENT_MONO,
    CURSOR,
    CURSOR_MONO,
    MASKED,
    MASKED_MONO,
    ColourMode,
    committed_style,
)
from llada_tui.tui.recording import Recording

SPECIAL_MARK = "⋄"  # special tokens (EOS, EOT...) take one cell; the token panel names them
UNKNOWN_SHAPE = ("·",)  # a position never committed yet (a run still arriving)
TOKEN_KEYS = Binding.Group("Token")


class TokenGrid(ScrollView, can_focus=True):
    BINDINGS = [
        Binding("tab", "move_cursor(1)", "Next token", key_display="tab", group=TOKEN_KEYS, id="cursor-next"),
        Binding(
            "shift+tab", "move_cursor(-1)", "Previous token", key_display="⇧tab", group=TOKEN_KEYS, id="cursor-previous"
        ),
        Binding("escape", "clear_cursor", "Clear cursor", show=False, id="cursor-clear"),
    ]

    class CursorMoved(Message):
        def __init__(self, pos: int | None) -> None:
            super().__init__()
            self.pos = pos

    def __init__(self, recording: Recording, *, id: str | None = None):
        super().__init__(id=id)
        self.recording = recording
        self.t = 0
        self.mode = ColourMode.STEP
        self.cursor: int | None = None
        self.monochrome = False
        self.grid_layout: GridLayout | None = None
        self._shape_ids: list[int] = []  # per position: the token whose text gives it its room
        self._line_changes: list[list[int]] = []  # per line: sorted steps that changed a position on it
        self._line_of_pos: list[tuple[int, int]] = []  # per position: first and last line
        self._strips: LRUCache[tuple, Strip] = LRUCache(2048)
        self._drawn: dict[int, tuple] = {}  # line -> key of the strip last drawn there
        self._base = Style()
        self._slot_texts: dict[tuple[int, int], tuple[str, ...]] = {}

    # ------------------------------------------------------------------ feeding

    def reset(self) -> None:
        """Recompute every position's room from the recording (a header or a whole file arrived)."""
        n = self.recording.gen_length
        self._shape_ids = [self._latest_token(pos) for pos in range(n)]
        self._relayout()

    def steps_added(self, first_step: int) -> None:
        """Steps from `first_step` on were added to the recording (following a growing run)."""
        if self.grid_layout is None:
            self.reset()
            return
        changed = {pos for step in self.recording.index.steps[first_step:] for pos in step.positions}
        reflow = False
        for pos in changed:
            latest = self._latest_token(pos)
            if latest != self._shape_ids[pos]:
                self._shape_ids[pos] = latest
                reflow = True
        if reflow:
            self._relayout()
            return
        for step in self.recording.index.steps[first_step:]:
            for pos in step.positions:
                first, last = self._line_of_pos[pos]
                for line in range(first, last + 1):
                    if not self._line_changes[line] or self._line_changes[line][-1] != step.index:
                        self._line_changes[line].append(step.index)
        self.refresh()

    def _latest_token(self, pos: int) -> int:
        """The last token pos held that was not the mask, or the mask id if it never held one."""
        mask_id = self.recording.index.mask_id
        for _, token_id, _ in reversed(self.recording.index.history(pos)):
            if token_id != mask_id:
                return token_id
        return mask_id

    def _shape(self, token_id: int) -> tuple[str, ...]:
        if self.recording.is_mask(token_id):
            return UNKNOWN_SHAPE
        if token_id in self.recording.hidden_ids:
            return (SPECIAL_MARK,)
        return inert_lines(self.recording.text(token_id))

    def _relayout(self) -> None:
        width = self.scrollable_content_region.width
        if not self.recording.ready or width <= 0:
            return
        shapes = [self._shape(token_id) for token_id in self._shape_ids]
        word_starts = [
            starts_word(shapes[pos - 1] if pos else None, shape, self._shape_ids[pos] in self.recording.hidden_ids)
            for pos, shape in enumerate(shapes)
        ]
        self.grid_layout = layout = GridLayout(shapes, word_starts, width)
        self._line_of_pos = [(first, first) for first in layout.first_line]
        for line, parts in enumerate(layout.lines):
            for part in parts:
                first, _ = self._line_of_pos[part.pos]
                self._line_of_pos[part.pos] = (first, line)
        line_changes: list[set[int]] = [set() for _ in layout.lines]
        for pos in range(len(shapes)):
            steps = [change[0] for change in self.recording.index.history(pos)]
            first, last = self._line_of_pos[pos]
            for line in range(first, last + 1):
                line_changes[line].update(steps)
        self._line_changes = [sorted(steps) for steps in line_changes]
        self._strips.clear()
        self._drawn.clear()
        self._slot_texts.clear()
        self.virtual_size = Size(width, layout.height)
        self.refresh()

    def on_resize(self, event: Resize) -> None:
        if self.grid_layout is None or self.grid_layout.width != self.scrollable_content_region.width:
            self._relayout()
        else:
            self._drawn.clear()

    # ------------------------------------------------------------------ state

    def show(self, t: int, keep_in_view: bool = False) -> None:
        """Draw the grid as it was after t steps; with keep_in_view (playing), scroll to the
        step's tokens if none of them is in view.

        Only the lines that look different at t are repainted: one step usually changes a few.
        """
        self.t = t
        if self.grid_layout is None:
            return
        top, height = round(self.scroll_y), self.scrollable_content_region.height
        if keep_in_view and 0 < t <= self.recording.length:
            lines = [self._line_of_pos[pos][0] for pos in self.recording.index.steps[t - 1].positions]
            if lines and not any(top <= line < top + height for line in lines):
                self.scroll_to_region(Region(0, min(lines), 1, 1), animate=False, center=True)
                return  # scrolling repaints everything
        for line in range(top, min(top + height, self.grid_layout.height)):
            if self._drawn.get(line) != self._line_key(line):
                self.refresh_lines(line)

    def set_mode(self, mode: ColourMode) -> None:
        self.mode = mode
        self.refresh()

    def set_cursor(self, pos: int | None) -> None:
        if pos is not None and not 0 <= pos < self.recording.gen_length:
            return
        self.cursor = pos
        self.refresh()
        if pos is not None and self.grid_layout is not None:
            parts = [p for p in self.grid_layout.lines[self._line_of_pos[pos][0]] if p.pos == pos]
            if parts:
                line = self._line_of_pos[pos][0]
                self.scroll_to_region(Region(parts[0].x, line, parts[0].width, 1), animate=False)
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

    def on_click(self, event: Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or self.grid_layout is None:
            return
        pos = self.grid_layout.position_at(offset.x + round(self.scroll_x), offset.y + round(self.scroll_y))
        if pos is not None:
            self.set_cursor(pos)

    # ------------------------------------------------------------------ drawing

    def _line_key(self, line: int) -> tuple:
        """All a line's look depends on: how many of its changes happened before t, and more."""
        changes = self._line_changes[line]
        seen = bisect.bisect_left(changes, self.t)
        current = seen > 0 and changes[seen - 1] == self.t - 1
        first, last = self._line_bounds(line)
        cursor = self.cursor if self.cursor is not None and first <= self.cursor <= last else -1
        return (line, seen, current, cursor, self.mode, self.monochrome)

    def render_lines(self, crop: Region) -> list[Strip]:
        self._base = self.rich_style  # once per repaint, not per line
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

    def _line_bounds(self, line: int) -> tuple[int, int]:
        parts = self.grid_layout.lines[line]
        return (parts[0].pos, parts[-1].pos) if parts else (-1, -2)

    def _render_strip(self, line: int, base: Style) -> Strip:
        index = self.recording.index
        segments = []
        x = 0
        for part in self.grid_layout.lines[line]:
            token_id, step, confidence = index.cell_at(part.pos, self.t)
            style = base + self._cell_style(token_id, step, confidence)
            if part.pos == self.cursor:
                style += CURSOR_MONO if self.monochrome else CURSOR
            segments.append(Segment(self._slot_text(part.pos, token_id)[part.index], style))
            x = part.x + part.width
        return Strip(segments, x)

    def _cell_style(self, token_id: int, step: int, confidence: float) -> Style:
        if step >= 0 and step == self.t - 1:
            return CURRENT_MONO if self.monochrome else CURRENT
        if self.recording.is_mask(token_id):
            return MASKED_MONO if self.monochrome else MASKED
        if self.monochrome:
            return Style()
        return committed_style(self.mode, step, self.recording.total_steps, confidence)

    def _slot_text(self, pos: int, token_id: int) -> tuple[str, ...]:
        """What a token looks like in pos's slot, one string per part."""
        key = (pos, token_id)
        texts = self._slot_texts.get(key)
        if texts is None:
            parts = self.grid_layout.parts_of[pos]
            if self.recording.is_mask(token_id):
                texts = tuple(placeholder(part) for part in parts)
            elif token_id == self._shape_ids[pos]:
                texts = parts
            else:
                hidden = token_id in self.recording.hidden_ids
                text = SPECIAL_MARK if hidden else inert_text(self.recording.text(token_id))
                if pos in self.grid_layout.stripped:
                    text = text.lstrip(" ") or text
                texts = fit(text, self.grid_layout.part_widths(pos))
            self._slot_texts[key] = texts
        return texts
