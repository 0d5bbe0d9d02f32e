"""The timeline: a scrubber over all steps with block boundaries, the current position, for a
revising sampler the steps that revised or re-masked a token, and with the order overlay the
step at which the answer span was complete.

Click or drag to seek; the mouse wheel steps one step at a time (down: forward).
"""

from __future__ import annotations

from itertools import groupby

from rich.style import Style
from rich.text import Text
from textual.events import MouseDown, MouseMove, MouseScrollDown, MouseScrollUp, MouseUp, Resize
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from llada_tui.tui.palette import ANSWER_MARK

REVISION_MARK = "×"  # a step that revised or re-masked a token


class Timeline(Widget):
    # styled in player.tcss: steps played, recorded but ahead, not recorded yet, block
    # boundaries, the current step's marker, the row of labels, steps that changed the model's mind,
    # the answer's complete step
    COMPONENT_CLASSES = {
        "timeline--answer",
        "timeline--revision",
        "timeline--played",
        "timeline--ahead",
        "timeline--not-yet",
        "timeline--boundary",
        "timeline--marker",
        "timeline--label",
    }

    class Seek(Message):
        def __init__(self, t: int) -> None:
            super().__init__()
            self.t = t

    class Wheel(Message):
        """The wheel turned over the timeline: step this many steps (negative: back)."""

        def __init__(self, steps: int) -> None:
            super().__init__()
            self.steps = steps

    # What the track shows; setting one to another value repaints it, to the same value nothing.
    length = reactive(0)  # steps known
    total = reactive(0)  # steps the run was asked for
    boundaries: reactive[list[int]] = reactive(list)  # compared in one go: there can be one per step
    changed_mind: reactive[list[int]] = reactive(list)  # positions after a step that revised or re-masked
    answer_marks: reactive[list[int]] = reactive(list)  # positions at which an answer span was complete
    # The current step's column rather than the step: with more steps than columns, most steps
    # leave it where it is, and draw nothing.
    marker = reactive(0)

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id)
        self.t = 0
        self._marks: tuple[tuple, set[int], str] | None = None  # (for what, boundary columns, label row)

    def show(
        self,
        t: int,
        length: int,
        total: int,
        boundaries: list[int],
        changed_mind: list[int] | None = None,
        answer_marks: list[int] | None = None,
    ) -> None:
        self.t = t
        self.length, self.total, self.boundaries = length, total, boundaries
        self.changed_mind = changed_mind or []
        self.answer_marks = answer_marks or []
        self.marker = self._column(t, self.content_region.width)

    def on_resize(self, event: Resize) -> None:
        # a resize repaints: keep the column that paint shows, for the next show() to compare with
        self.marker = self._column(self.t, self.content_region.width)

    @property
    def _scale(self) -> int:
        return max(1, self.total, self.length)

    def _column(self, t: int, width: int) -> int:
        return round(t / self._scale * (width - 1))

    def _step_at(self, x: int, width: int) -> int:
        return min(self.length, max(0, round(x / max(1, width - 1) * self._scale)))

    def render(self) -> Text:
        width = self.content_region.width
        if width < 2:
            return Text()
        marker = self._column(self.t, width)
        boundary_columns, labels = self._boundary_marks(width)
        look = self._component_style
        marker_style, boundary_style, revision_style = look("marker"), look("boundary"), look("revision")
        answer_style = look("answer")
        answer_columns = {self._column(t, width) for t in self.answer_marks}
        played, ahead, not_yet = look("played"), look("ahead"), look("not-yet")
        revision_columns = {self._column(t, width) for t in self.changed_mind}
        cells = []
        for column in range(width):
            step_at = column / max(1, width - 1) * self._scale
            if column == marker:
                cells.append(("●", marker_style))
            elif column in answer_columns:
                cells.append((ANSWER_MARK, answer_style))
            elif column in revision_columns:
                cells.append((REVISION_MARK, revision_style))
            elif column in boundary_columns:
                cells.append(("┼", boundary_style))
            elif step_at <= self.t:
                cells.append(("━", played))
            elif step_at <= self.length:
                cells.append(("─", ahead))
            else:
                cells.append(("┄", not_yet))
        track = Text(no_wrap=True)
        for style, run in groupby(cells, key=lambda cell: cell[1]):
            track.append("".join(char for char, _ in run), style)
        return track + Text("\n") + Text(labels, look("label"), no_wrap=True)

    def _component_style(self, part: str) -> Style:
        # partial: the part's own rules only, drawn over the widget's style as a Rich style is
        return self.get_component_rich_style(f"timeline--{part}", partial=True)

    def _boundary_marks(self, width: int) -> tuple[set[int], str]:
        """The columns of block boundaries and the row of labels under them, worked out once per
        set of boundaries and width (not per frame: there can be one per step)."""
        key = (width, self._scale, self.boundaries)
        if self._marks is not None and self._marks[0] == key:
            return self._marks[1], self._marks[2]
        columns = {self._column(b, width) for b in self.boundaries if 0 < b < self._scale}
        labels = [" "] * width
        self._put(labels, 0, "0")
        self._put(labels, width - len(str(self._scale)), str(self._scale))
        free_from = 0  # columns before this are taken by the last label: with a block per step, skip them
        for number, boundary in enumerate(sorted(self.boundaries), start=1):
            column = self._column(boundary, width)
            if 0 < boundary < self._scale and column >= free_from and self._put(labels, column, f"b{number}"):
                free_from = column + len(f"b{number}") + 1
        self._marks = ((width, self._scale, list(self.boundaries)), columns, "".join(labels))
        return columns, self._marks[2]

    @staticmethod
    def _put(cells: list[str], x: int, label: str) -> bool:
        """Write a label at x if it fits with a space on either side of what is there; whether it did."""
        x = max(0, min(x, len(cells) - len(label)))
        if all(c == " " for c in cells[max(0, x - 1) : x + len(label) + 1]):
            cells[x : x + len(label)] = label
            return True
        return False

    # ------------------------------------------------------------------ mouse

    def on_mouse_down(self, event: MouseDown) -> None:
        self.capture_mouse()
        self._seek_to(event.x)

    def on_mouse_move(self, event: MouseMove) -> None:
        if self.app.mouse_captured is self:
            self._seek_to(event.x)

    def on_mouse_up(self, event: MouseUp) -> None:
        self.release_mouse()

    def on_mouse_scroll_down(self, event: MouseScrollDown) -> None:
        event.stop()
        self.post_message(self.Wheel(1))

    def on_mouse_scroll_up(self, event: MouseScrollUp) -> None:
        event.stop()
        self.post_message(self.Wheel(-1))

    def _seek_to(self, x: int) -> None:
        self.post_message(self.Seek(self._step_at(x, self.content_region.width)))
