"""The player: a keyboard-driven timeline over a recorded (or arriving) denoising run.

The app holds one TraceView (tui/trace_view.py), which plays a source (tui/sources/), and the
app-level things around it: the footer, the help and info screens, the command palette and the
key bindings, which act on the view.
"""

from __future__ import annotations

import os

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.events import Resize
from textual.notifications import SeverityLevel
from textual.widgets import Footer

from llada_tui.core.inert import inert_text
from llada_tui.core.run_index import RunIndex
from llada_tui.tui.commands import PlayerCommands
from llada_tui.tui.help import HelpScreen, sampler_rows
from llada_tui.tui.info import InfoScreen
from llada_tui.tui.sources.file import FileSource
from llada_tui.tui.sources.follow import FollowSource
from llada_tui.tui.sources.messages import SourceFailed
from llada_tui.tui.sources.source import Source
from llada_tui.tui.trace_view import NARROW, TraceView
from llada_tui.tui.widgets.grid import TokenGrid
from llada_tui.tui.widgets.run_header import RunHeader

STEP_KEYS = Binding.Group("Step", compact=True)


class PlayerApp(App[None]):
    CSS_PATH = "player.tcss"
    TITLE = "llada-tui play"
    COMMANDS = App.COMMANDS | {PlayerCommands}

    BINDINGS = [
        Binding("space", "toggle_play", "Play/pause", tooltip="Play / pause (stops at the end)", id="play"),
        Binding("left,h,k,comma", "step(-1)", "Step back", key_display="←", group=STEP_KEYS, id="step-back"),
        Binding("right,l,j,full_stop", "step(1)", "Step forward", key_display="→", group=STEP_KEYS, id="step-forward"),
        Binding("shift+left,pageup", "step(-10)", "Back 10 steps", show=False, id="back-ten"),
        Binding("shift+right,pagedown", "step(10)", "Forward 10 steps", show=False, id="forward-ten"),
        Binding("home,g", "first", "First step", show=False, id="first"),
        Binding("end,G", "last", "Last step (catch up when following)", show=False, id="last"),
        *(Binding(str(d), f"jump({d})", "Jump to 0–90 %", show=False, id=f"jump-{d}") for d in range(10)),
        Binding("left_square_bracket", "block(-1)", "Previous block boundary", show=False, id="block-back"),
        Binding("right_square_bracket", "block(1)", "Next block boundary", show=False, id="block-forward"),
        Binding("plus,equals_sign", "speed(1)", "Faster", show=False, id="faster"),
        Binding("minus,underscore", "speed(-1)", "Slower", show=False, id="slower"),
        Binding("c", "colour_mode", "Colour", tooltip="Colour by commit step or by confidence", id="colour"),
        Binding(
            "w",
            "placeholders",
            "Placeholders",
            show=False,
            tooltip="Masked tokens: plain dots, or the width of the token to come (see below)",
            id="placeholders",
        ),
        Binding("slash", "find", "Find", tooltip="Find text: the first step at which it is visible", id="find"),
        Binding("n", "next_match(1)", "Next match", show=False, id="match-next"),
        Binding("N", "next_match(-1)", "Previous match", show=False, id="match-previous"),
        Binding("i", "info", "Run info", show=False, tooltip="Run info: whole prompt, model, parameters", id="info"),
        Binding("question_mark", "help", "Help", tooltip="Help: this screen", id="help"),
        Binding("q", "quit", "Quit", id="quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True, id="quit-now"),
    ]

    def __init__(self, source: Source):
        # NO_COLOR: Textual's default filter still turns colours into greys; ansi_color makes
        # it drop every colour instead (bold, dim, underline and reverse stay).
        super().__init__(ansi_color=True if "NO_COLOR" in os.environ else None)
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

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Notifications go to the view's line under the grid (always inert, see TraceView.notify)."""
        self.view.notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def action_quit(self) -> None:
        self.view.stop()
        self.exit()

    def on_resize(self, event: Resize) -> None:
        self.set_class(event.size.width < NARROW, "-narrow")
        # narrow, the footer keeps its room for q Quit; the help screen names ctrl+p
        footer = self.query_one(Footer)
        if footer.show_command_palette != (event.size.width >= NARROW):
            footer.show_command_palette = event.size.width >= NARROW
            footer.refresh(recompose=True)

    def on_source_failed(self, message: SourceFailed) -> None:
        self.exit(return_code=1, message=Text(f"llada-tui: error: {inert_text(message.message)}"))

    @on(RunHeader.Clicked)
    def _header_clicked(self) -> None:
        self.action_info()

    # ------------------------------------------------------------------ keys: the view's

    def action_toggle_play(self) -> None:
        self.view.toggle_play()

    def action_step(self, delta: int) -> None:
        self.view.go_to(self.view.position + delta)

    def action_first(self) -> None:
        self.view.go_to(0)

    def action_last(self) -> None:
        self.view.go_to(self.view.length)

    def action_jump(self, tenths: int) -> None:
        self.view.jump(tenths)

    def action_block(self, direction: int) -> None:
        self.view.to_block(direction)

    def action_speed(self, delta: int) -> None:
        self.view.change_speed(delta)

    def action_colour_mode(self) -> None:
        self.view.toggle_colour_mode()

    def action_placeholders(self) -> None:
        self.view.toggle_placeholders()

    def action_find(self) -> None:
        self.view.open_find()

    def action_next_match(self, direction: int) -> None:
        self.view.next_match(direction)

    # ------------------------------------------------------------------ screens

    def action_info(self) -> None:
        if self.recording.ready and not isinstance(self.screen, InfoScreen):
            self.push_screen(InfoScreen(self.recording))

    def action_help(self) -> None:
        # Subclasses (live mode) add keys of their own: list the whole class hierarchy's.
        mro = [cls for cls in reversed(type(self).__mro__) if issubclass(cls, PlayerApp)]
        own = [binding for cls in mro for binding in vars(cls).get("BINDINGS", [])]
        sampler = sampler_rows(self.recording.header) if self.recording.ready else []
        self.push_screen(HelpScreen(self.TITLE, [*own, *TokenGrid.BINDINGS], self.get_key_display, sampler))


def run_player(path: str, follow: bool = False) -> int:
    """Play a trace file (following it while it grows, with follow); returns the exit code.

    A file that cannot be played raises TraceError before the app starts; the CLI turns it
    into one line and exit status 1, as for `info` and `export`.
    """
    source = FollowSource.open(path) if follow else FileSource.open(path)
    app = PlayerApp(source)
    app.run()
    return app.return_code or 0
