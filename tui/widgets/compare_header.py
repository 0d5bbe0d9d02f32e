"""Compare's header: which runs, how their parameters differ (and what they share), and where
the shared timeline stands."""

from __future__ import annotations

from rich.cells import cell_len, set_cell_size
from rich.console import Group
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.events import Resize
from textual.widgets import Static

from llada_tui.core.inert import inert_text
from llada_tui.core.records import Header
from llada_tui.tui.compare_runs import fields
from llada_tui.tui.playback import Playback
from llada_tui.tui.widgets.run_header import STATE_LABELS

WIDE = 120  # from this many columns the header names the other scale (f switches to it)
VALUE_CELLS = 24  # a long value (a prompt) is cut: the info screen (i) has it whole
NAME_CELLS = 16  # the room a run's name should have (if it is that long) before the rest is worded shorter
MIN_NAME_CELLS = 8  # and the least it keeps
COMPACT_LEVELS = 3


def _cut(value: str, cells: int = VALUE_CELLS) -> str:
    """value, cut to at most `cells` cells (wide characters take two) and marked so."""
    if cell_len(value) <= cells:
        return value
    return set_cell_size(value, cells - 1) + "…"


def _shares(a: int, b: int, room: int) -> tuple[int, int]:
    """The cells each of two names of a and b cells may take of `room`: a short one lends the
    other what it does not need; each keeps MIN_NAME_CELLS."""
    half = room // 2
    if a <= half:
        a, b = a, room - a
    elif b <= half:
        a, b = room - b, b
    else:
        a = b = half
    return max(MIN_NAME_CELLS, a), max(MIN_NAME_CELLS, b)


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

    _asked: tuple = ()  # the arguments of the last show(): worded again for a new width
    says_speed = False  # whether the header shows the playback speed now (a narrow one may not)

    def look(self, part: str) -> Style:
        return self.get_component_rich_style(f"compare-header--{part}", partial=True)

    def on_resize(self, event: Resize) -> None:
        if self._asked:
            self.show(*self._asked)

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
        self._asked = (headers, playback, scale, other, differing)
        width = self.content_region.width or self.app.size.width
        need = sum(min(cell_len(name), NAME_CELLS) for name in self.names)
        for compact in range(COMPACT_LEVELS):  # the fullest wording that leaves the names their room
            counts = self._counts(differing, short=compact >= 2)
            state = self._state(playback, scale, other, speed=compact < 1 or playback.playing)
            room = width - state.cell_len - counts.cell_len - len("A   vs  B ")
            if room >= need:
                break
        self.says_speed = compact < 1 or playback.playing
        a, b = (_cut(name, cells) for name, cells in zip(self.names, _shares(*map(cell_len, self.names), room)))
        title = Text(no_wrap=True, overflow="ellipsis")
        title.append(f"A {a}  vs  B {b}", self.look("title"))
        title.append_text(counts)
        top = Table.grid(expand=True)
        top.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
        top.add_column(no_wrap=True, justify="right")
        top.add_row(title, state)
        self.update(Group(top, self._parameters(*headers)), layout=False)

    def _counts(self, differing: tuple[int, int] | None, short: bool) -> Text:
        """How many of each run's tokens are not in the other's text ("33 | 13 tokens differ")."""
        counts = Text()
        if differing == (0, 0):
            counts.append(" · the same text", self.look("dim"))
        elif differing is not None:
            counts.append(" · ", self.look("dim"))
            counts.append(f"{differing[0]} | {differing[1]}", self.look("differs"))
            counts.append(" differ" if short else " tokens differ", self.look("dim"))
        return counts

    def _state(self, playback: Playback, scale: str, other: str, speed: bool) -> Text:
        """The shared playback: its state, speed (if `speed`), and the scale T is on."""
        state = Text(" ", no_wrap=True, justify="right")
        label, part = STATE_LABELS[playback.state]
        state.append(label, self.look({"live": "live", "playing": "playing"}.get(part, "state")))
        state.append(f"{playback.speed:g} steps/s · {scale}" if speed else f"· {scale}", self.look("dim"))
        if self.size.width >= WIDE:
            state.append(f" (f: {other})", self.look("dim"))
        return state

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
