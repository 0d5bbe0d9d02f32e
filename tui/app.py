"""The player: a keyboard-driven timeline over a recorded (or arriving) denoising run.

The app holds one TraceView (tui/trace_view.py), which plays a source (tui/sources/), and the
app-level things around it: the footer, the help and info screens, the command palette. Its
keys and their actions are those every timeline app shares (tui/timeline_app.py), acting on
the one view.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer

from llada_tui.core.run_index import RunIndex
from llada_tui.tui.sources.file import FileSource
from llada_tui.tui.sources.follow import FollowSource
from llada_tui.tui.sources.source import Source
from llada_tui.tui.timeline_app import TimelineApp
from llada_tui.tui.trace_view import TraceView
from llada_tui.tui.widgets.grid import TokenGrid


class PlayerApp(TimelineApp):
    TITLE = "llada-tui play"

    def __init__(self, source: Source):
        super().__init__()
        self._first_source = source
        self.view = TraceView(id="view")  # kept: tests read the run after the app has exited

    def compose(self) -> ComposeResult:
        yield self.view
        yield Footer()

    def on_mount(self) -> None:
        self.view.load(self._first_source, self.starting_status(self._first_source))

    def starting_status(self, source: Source) -> str:
        """What the view shows before a source's header arrives."""
        return "loading trace…"

    @property
    def driven(self) -> TraceView:
        return self.view

    def focused_view(self) -> TraceView:
        return self.view

    # The one view's state, as the player's: tests and benchmarks read (and set) them here.
    @property
    def recording(self) -> RunIndex:
        return self.view.recording

    @property
    def grid(self) -> TokenGrid:
        return self.view.grid

    @property
    def position(self) -> int:
        return self.view.position

    @position.setter
    def position(self, t: int) -> None:
        self.view.go_to(t)


def run_player(path: str, follow: bool = False) -> int:
    """Play a trace file (following it while it grows, with follow); returns the exit code.

    A file that cannot be played raises TraceError before the app starts; the CLI turns it
    into one line and exit status 1, as for `info` and `export`.
    """
    source = FollowSource.open(path) if follow else FileSource.open(path)
    app = PlayerApp(source)
    app.run()
    return app.return_code or 0
