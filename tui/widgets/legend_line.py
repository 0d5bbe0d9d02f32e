"""The line under the grid: the colour legend, and for a few seconds in its place, a notice.

Textual's toasts would cover the timeline and the step panel for seconds; the player's
notifications come here instead, where they hide only the legend for a while. Every notice is
made inert and never parsed as markup: notices quote trace contents (an end record's message)
and what the user typed.
"""

from __future__ import annotations

from rich.text import Text
from textual.timer import Timer
from textual.widgets import Static

from llada_tui.core.inert import inert_text
from llada_tui.tui.palette import CELL_CLASSES, Piece, look

SEVERITY_MARKS = {"information": "› ", "warning": "⚠ ", "error": "✖ "}
NOTICE_SECONDS = {"information": 4.0, "warning": 8.0, "error": 8.0}


class LegendLine(Static):
    # in player.tcss: a notice's look by severity, and the cells' looks the legend shows
    COMPONENT_CLASSES = {"legend-line--information", "legend-line--warning", "legend-line--error", *CELL_CLASSES}
    DEFAULT_CSS = """
    LegendLine { height: 1; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id)
        self._legends: list[Text] = []  # the legend's wordings, fullest first
        self._timer: Timer | None = None
        self.notice = ""  # the notice shown now, plain text ("" when the legend is shown)

    def set_legend(self, *wordings: list[Piece]) -> None:
        """Show the legend (palette.legend), each piece in its look: the first of its wordings (the
        fullest first) that fits the line, so that its last mark is never the one cut off."""
        self._legends = []
        for wording in wordings:
            legend = Text(no_wrap=True, overflow="ellipsis")
            for text, style in wording:
                legend.append(text, look(self, style) if isinstance(style, str) else style)
            self._legends.append(legend)
        if not self.notice:
            self._show_legend()

    def on_resize(self) -> None:
        if not self.notice:
            self._show_legend()

    def _show_legend(self) -> None:
        room = self.content_size.width  # 0 before the first layout: then the fullest, for now
        fitting = (legend for legend in self._legends if not room or legend.cell_len <= room)
        self.update(next(fitting, self._legends[-1] if self._legends else Text()), layout=False)

    def show_notice(self, message: str, title: str = "", severity: str = "information") -> None:
        if severity not in SEVERITY_MARKS:
            severity = "information"
        mark = SEVERITY_MARKS[severity]
        style = self.get_component_rich_style(f"legend-line--{severity}", partial=True)
        line = Text(mark, style=style, no_wrap=True, overflow="ellipsis")
        if title:
            line.append(inert_text(title) + ": ", style)
        line.append(inert_text(message))
        self.notice = line.plain
        self.update(line, layout=False)
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(NOTICE_SECONDS.get(severity, 4.0), self.clear_notice)

    def clear_notice(self) -> None:
        self.notice = ""
        self._show_legend()
