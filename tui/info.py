"""The run info screen: what the header has no room for, whole: the prompt, the model, every parameter."""

from __future__ import annotations

from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from llada_tui.core.inert import inert_block, inert_text
from llada_tui.core.run_index import RunIndex
from llada_tui.core.run_summary import sampler_line, steps_line


def info_table(recording: RunIndex, label_style: Style) -> Table:
    """Every field of the run as label / value rows; every value from the trace made inert."""
    header = recording.header
    table = Table.grid(padding=(0, 2))
    table.add_column(style=label_style, no_wrap=True)
    table.add_column()
    table.add_row("prompt", Text(inert_block(header.prompt_text) or "(empty)"))
    for key, value in header.model.items():
        table.add_row(inert_text(f"model {key}"), Text(inert_text(str(value))))
    for key, value in header.params.items():
        table.add_row(inert_text(str(key)), Text(inert_text(str(value))))
    if header.created:
        table.add_row("created", Text(inert_text(str(header.created))))
    table.add_row("steps recorded", Text(f"{recording.length} of {recording.total_steps}"))
    end = recording.end
    complete = end is not None and end.status == "complete" and not recording.problem
    table.add_row("decoding", Text(sampler_line(header)))  # as `llada-tui info` says them (its "sampler:")
    table.add_row("forwards", Text(steps_line(recording, complete)))
    if end is not None:
        table.add_row("ended", Text(inert_text(end.status)))
        if end.message:
            table.add_row("end message", Text(inert_block(end.message)))
    if recording.problem:
        table.add_row("problem", Text(inert_text(recording.problem)))
    return table


class InfoScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,i,q", "app.pop_screen", "Close run info", id="info-close"),
    ]
    COMPONENT_CLASSES = {"info-screen--label"}  # the fields' names, styled in player.tcss

    def __init__(self, recording: RunIndex) -> None:
        super().__init__()
        self._recording = recording

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="info-body") as body:
            body.border_title = "run info"
            body.border_subtitle = "Esc, i or q to close"
            yield Static(id="info-fields")

    def on_mount(self) -> None:  # the looks are the screen's own, known once it is mounted
        label = self.get_component_rich_style("info-screen--label", partial=True)
        self.query_one("#info-fields", Static).update(info_table(self._recording, label))
