"""Compare's header: which runs, how their parameters differ (and what they share), and where
the shared timeline stands."""

from __future__ import annotations

from rich.console import Group
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from llada_tui.core.inert import inert_text
from llada_tui.core.records import Header
from llada_tui.tui.compare_runs import fields
from llada_tui.tui.playback import Playback
from llada_tui.tui.widgets.run_header import STATE_LABELS

WIDE = 120  # from this many columns the header names the other scale (f switches to it)
VALUE_CELLS = 24  # a long value (a prompt) is cut: the info screen (i) has it whole


def _cut(value: str) -> str:
    return value if len(value) <= VALUE_CELLS else value[: VALUE_CELLS - 1] + "…"


class CompareHeader(Static):
    DEFAULT_CSS = """
    CompareHeader { height: 2; padding: 0 1; background: $panel; }
    """
    # styled in player.tcss: the runs' names, what differs, what they share, the states
    COMPONENT_CLASSES = {
        "compare-header--title",
        "compare-header--differs",
        "compare-header--dim",
        "compare-header--playing",
        "compare-header--live",
        "compare-header--state",
    }

    def __init__(self, names: tuple[str, str], *, id: str | None = None):
        super().__init__(id=id)
        self.names = tuple(inert_text(name) for name in names)

    def look(self, part: str) -> Style:
        return self.get_component_rich_style(f"compare-header--{part}", partial=True)

    def show(
        self,
        headers: tuple[Header | None, Header | None],
        playback: Playback,
        scale: str,
        other: str,
        differing: tuple[int, int] | None = None,
    ) -> None:
        """The runs and their parameters (once both headers are in), how many of their tokens
        are not in the other's text, and the shared playback: its state, speed, and the scale
        T is on (`other`: the scale f switches to; said when there is room)."""
        title = Text(no_wrap=True, overflow="ellipsis")
        title.append(f"A {self.names[0]}  vs  B {self.names[1]}", self.look("title"))
        if differing == (0, 0):
            title.append(" · the same text", self.look("dim"))
        elif differing is not None:
            title.append(" · ", self.look("dim"))
            title.append(f"{differing[0]} | {differing[1]}", self.look("differs"))
            title.append(" tokens differ", self.look("dim"))
        state = Text(" ", no_wrap=True, justify="right")
        label, part = STATE_LABELS[playback.state]
        state.append(label, self.look({"live": "live", "playing": "playing"}.get(part, "state")))
        state.append(f"{playback.speed:g} steps/s · {scale}", self.look("dim"))
        if self.size.width >= WIDE:
            state.append(f" (f: {other})", self.look("dim"))
        top = Table.grid(expand=True)
        top.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
        top.add_column(no_wrap=True, justify="right")
        top.add_row(title, state)
        self.update(Group(top, self._parameters(*headers)), layout=False)

    def _parameters(self, a: Header | None, b: Header | None) -> Text:
        line = Text(no_wrap=True, overflow="ellipsis")
        if a is None or b is None:
            line.append("waiting for both runs' headers…", self.look("dim"))
            return line
        differ, same = fields(a, b)
        if differ:
            line.append("differ: ", self.look("dim"))
            for i, field in enumerate(differ):
                line.append(" · " if i else "", self.look("dim"))
                line.append(f"{field.label} ", self.look("dim"))
                line.append(f"{_cut(field.a)} | {_cut(field.b)}", self.look("differs"))
        else:
            line.append("the same parameters", self.look("differs"))
        if same:
            line.append("   same: ", self.look("dim"))
            line.append(" · ".join(f"{field.label} {_cut(field.a)}" for field in same), self.look("dim"))
        return line
