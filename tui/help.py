"""The help screen: every key of the player, taken from the bindings themselves."""

from __future__ import annotations

from collections.abc import Iterable

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


def help_table(bindings: Iterable[Binding], key_display) -> Table:
    """One row per thing to do, its keys joined: '← h ,  Step back'. The tooltip, if any, explains more."""
    rows: dict[str, tuple[list[str], str]] = {}
    for binding in bindings:
        keys, description = rows.setdefault(binding.description, ([], binding.tooltip or binding.description))
        for key in binding.key.split(","):
            shown = key_display(Binding(key.strip(), binding.action))
            if shown not in keys:
                keys.append(shown)
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    for keys, description in rows.values():
        table.add_row(Text(" ".join(keys)), Text(description))
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,question_mark,q", "app.pop_screen", "Close help", id="help-close"),
    ]

    def __init__(self, title: str, bindings: list[Binding], key_display) -> None:
        super().__init__()
        self._title = title
        self._listed = bindings
        self._key_display = key_display

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body") as body:
            body.border_title = f"{self._title} · keys"
            body.border_subtitle = "Esc, ? or q to close"
            yield Static(help_table(self._listed, self._key_display))
            yield Static(
                Text(
                    "Colours: commit step early → late (c: confidence at commit). Bold underlined: "
                    "committed at the step just applied. Dots: still masked, in the room of the token "
                    "they become. Find (/) jumps to the first step at which the text is fully visible; "
                    "lower-case text matches any case.",
                    style="dim",
                ),
                id="help-notes",
            )
