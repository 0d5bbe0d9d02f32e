"""The player: a keyboard-driven timeline over a recorded (or arriving) denoising run.

Records come from a source (tui/sources.py) in a worker thread; the app keeps them in a RunIndex
(core/run_index.py) and moves a timeline position t from 0 (all masked) to the number of steps known.
Where t stands and how it moves is the Playback's (tui/playback.py): the app drives it from its
keys, its frame timer and the arriving records, then draws what it says.
"""

from __future__ import annotations

import os
import threading

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.events import Resize
from textual.notifications import SeverityLevel
from textual.timer import Timer
from textual.widgets import Footer, Input, Static

from llada_tui.core.inert import inert_block, inert_text
from llada_tui.core.run_index import RunIndex
from llada_tui.tui.commands import PlayerCommands
from llada_tui.tui.help import HelpScreen
from llada_tui.tui.info import InfoScreen
from llada_tui.tui.palette import ColourMode, legend
from llada_tui.tui.playback import Playback, State
from llada_tui.tui.search import Match, find_text
from llada_tui.tui.sources.file import FileSource
from llada_tui.tui.sources.follow import FollowSource
from llada_tui.tui.sources.messages import HeaderArrived, Quiet, RunEnded, SourceFailed, Status, StepsArrived
from llada_tui.tui.sources.source import Source
from llada_tui.tui.widgets.find_bar import FindBar
from llada_tui.tui.widgets.grid import Placeholders, TokenGrid
from llada_tui.tui.widgets.legend_line import LegendLine
from llada_tui.tui.widgets.run_header import RunHeader
from llada_tui.tui.widgets.step_panel import StepPanel
from llada_tui.tui.widgets.timeline import Timeline
from llada_tui.tui.widgets.token_panel import TokenPanel

SPEEDS = (1, 2, 5, 10, 20, 50, 100, 200, 500)  # steps per second
DEFAULT_SPEED = SPEEDS.index(10)
FRAME_SECONDS = 1 / 30
NARROW = 100  # below this many columns the side panels get narrower
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
        self.source = source
        self.recording = RunIndex()
        self.speed_index = DEFAULT_SPEED
        self.playback = Playback(SPEEDS[self.speed_index], follows=source.follows)
        self._drawn_t = 0  # the position the grid and panels last showed
        self.mode = ColourMode.STEP
        self.placeholders = Placeholders.PLAIN
        self._stop = threading.Event()
        self._timer: Timer | None = None
        self._matches: list[Match] = []
        self._match_query = ""
        self._match_index = -1
        self._quiet_s: float | None = None  # following: seconds since the file last grew

    # ------------------------------------------------------------------ screen

    def compose(self) -> ComposeResult:
        yield RunHeader(id="header")
        with Horizontal(id="body"):
            with Vertical(id="main"):
                yield Static("loading trace…", id="status")
                yield TokenGrid(self.recording, id="grid")
                yield LegendLine(id="legend")
            with Vertical(id="side"):
                yield TokenPanel(id="token-panel")
                yield StepPanel(id="step-panel")
        yield FindBar(id="find")
        yield Timeline(id="timeline")
        yield Footer()

    def on_mount(self) -> None:
        self.grid.monochrome = self.no_color
        self.grid.display = False
        self.query_one(FindBar).display = False
        self._timer = self.set_interval(FRAME_SECONDS, self._tick, pause=True)
        self._run_source()
        self.grid.focus()
        self._show_all()

    @work(thread=True, exit_on_error=False)
    def _run_source(self) -> None:
        self.source.run(self.post_message, self._stop)

    async def switch_source(self, source: Source, status: str) -> None:
        """Play another run from its start (live mode's new runs).

        The current source must have finished delivering: its messages are handled before
        this call's, so nothing of the old run reaches the new one.
        """
        self._stop.set()
        self.source = source
        self.playback = Playback(SPEEDS[self.speed_index], follows=source.follows)
        self.recording = RunIndex()
        self._stop = threading.Event()
        self._matches, self._match_query, self._match_index = [], "", -1
        self._quiet_s = None
        old_grid = self.grid
        grid = TokenGrid(self.recording, id="grid")
        grid.monochrome = self.no_color
        grid.set_mode(self.mode)
        grid.placeholders = self.placeholders
        grid.display = False
        await old_grid.remove()
        await self.query_one("#main").mount(grid, before="#legend")
        self._show_status(status)
        self.query_one("#status").display = True
        self._sync()
        self._run_source()
        grid.focus()
        self._show_all()

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Notifications go to the line under the grid, not to toasts over the panels.

        Always shown as plain, inert text, whatever `markup` says: they quote trace contents
        and what the user typed, and Textual's own few notices need no styling.
        """
        self.query_one(LegendLine).show_notice(message, title, severity)

    def action_quit(self) -> None:
        self._stop.set()
        self.exit()

    def on_unmount(self) -> None:
        self._stop.set()

    def on_resize(self, event: Resize) -> None:
        self.set_class(event.size.width < NARROW, "-narrow")
        # narrow, the footer keeps its room for q Quit; the help screen names ctrl+p
        footer = self.query_one(Footer)
        if footer.show_command_palette != (event.size.width >= NARROW):
            footer.show_command_palette = event.size.width >= NARROW
            footer.refresh(recompose=True)
        self._show_legend()

    def _show_legend(self) -> None:
        if self.recording.ready:
            narrow = self.size.width < NARROW
            shown = legend(self.mode, self.recording.total_steps, self.no_color, 4 if narrow else 16, compact=narrow)
            self.query_one(LegendLine).set_legend(shown)

    @property
    def grid(self) -> TokenGrid:
        return self.query_one(TokenGrid)

    # ------------------------------------------------------------------ records arriving

    def on_status(self, message: Status) -> None:
        self._show_status(message.text)

    def _show_status(self, status: str) -> None:
        """A source's status line, shown in place of the grid: it quotes prompts and file names."""
        self.query_one("#status", Static).update(Text(inert_block(status)))

    def on_header_arrived(self, message: HeaderArrived) -> None:
        self.recording.start(message.header)
        self.query_one("#status").display = False
        self.grid.display = True
        self.grid.reset()
        self._show_legend()
        self._show_all()

    def on_quiet(self, message: Quiet) -> None:
        self._quiet_s = message.seconds
        self._show_header()

    def on_steps_arrived(self, message: StepsArrived) -> None:
        self._quiet_s = None
        first = self.recording.length
        self.recording.add(message.steps)
        self.grid.steps_added(first)
        self.playback.grow(self.recording.length)
        self._sync()
        self._show_all()

    def on_run_ended(self, message: RunEnded) -> None:
        self.recording.finish(message.end, message.problem)
        self.playback.finish()
        self._sync()
        if message.problem:
            self.notify(message.problem, title="Trace", severity="warning", markup=False, timeout=8)
        elif self.source.follows:
            self.notify("the run ended", title="Trace", markup=False)
        self._show_all()

    def on_source_failed(self, message: SourceFailed) -> None:
        self._stop.set()
        self.exit(return_code=1, message=Text(f"llada-tui: error: {inert_text(message.message)}"))

    # ------------------------------------------------------------------ drawing

    @property
    def position(self) -> int:
        """The timeline position: steps shown (0 = all masked)."""
        return self.playback.position

    @position.setter
    def position(self, t: int) -> None:
        self.go_to(t)

    @property
    def playing(self) -> bool:
        return self.playback.playing

    def _sync(self, keep_in_view: bool | None = None) -> None:
        """Bring the timer and the screen up to the playback, after anything moved it.

        keep_in_view (default: while playing): scroll to the tokens of the step shown.
        """
        if self._timer is not None:
            self._timer.resume() if self.playback.state is State.PLAYING else self._timer.pause()
        if self.playback.position != self._drawn_t:
            self._drawn_t = self.playback.position
            self.grid.show(self._drawn_t, keep_in_view=self.playback.playing if keep_in_view is None else keep_in_view)
            self._show_all()
        else:
            self._show_header()

    def _show_all(self) -> None:
        self._show_header()
        recording = self.recording
        if recording.ready:
            self.query_one(Timeline).show(
                self.position, recording.length, recording.total_steps, recording.boundaries()
            )
        self.query_one(StepPanel).show(recording, self.position)
        self.query_one(TokenPanel).show(recording, self.position, self.grid.cursor)

    def _show_header(self) -> None:
        self.query_one(RunHeader).show(self.recording, self.playback, self._quiet_s)

    @on(TokenGrid.CursorMoved)
    def _cursor_moved(self, message: TokenGrid.CursorMoved) -> None:
        self.query_one(TokenPanel).show(self.recording, self.position, message.pos)

    @on(Timeline.Seek)
    def _seek(self, message: Timeline.Seek) -> None:
        self.go_to(message.t)

    @on(Timeline.Wheel)
    def _wheel(self, message: Timeline.Wheel) -> None:
        self.go_to(self.position + message.steps)

    @on(RunHeader.Clicked)
    def _header_clicked(self) -> None:
        self.action_info()

    # ------------------------------------------------------------------ playback

    def go_to(self, t: int) -> None:
        """Move to timeline position t (clamped); playing goes on from there."""
        self.playback.seek(t)
        self._sync()

    def _tick(self) -> None:
        before = self.playback.position
        self.playback.tick()
        if self.playback.position != before:  # most frames at low speeds move nothing
            self._sync(keep_in_view=True)  # the clock moved it: the last step of a run too

    def action_toggle_play(self) -> None:
        if self.recording.ready:
            self.playback.toggle()
            self._sync()

    def action_step(self, delta: int) -> None:
        self.go_to(self.position + delta)

    def action_first(self) -> None:
        self.go_to(0)

    def action_last(self) -> None:
        self.go_to(self.recording.length)

    def action_jump(self, tenths: int) -> None:
        self.go_to(round(self.recording.length * tenths / 10))

    def action_block(self, direction: int) -> None:
        starts = sorted({*self.recording.boundaries(), 0, self.recording.length})
        starts = [s for s in starts if s <= self.recording.length]
        if direction > 0:
            self.go_to(next((s for s in starts if s > self.position), self.recording.length))
        else:
            self.go_to(next((s for s in reversed(starts) if s < self.position), 0))

    def action_speed(self, delta: int) -> None:
        self.speed_index = max(0, min(len(SPEEDS) - 1, self.speed_index + delta))
        self.playback.set_speed(SPEEDS[self.speed_index])
        self._sync()

    def action_colour_mode(self) -> None:
        self.mode = ColourMode.CONFIDENCE if self.mode is ColourMode.STEP else ColourMode.STEP
        self.grid.set_mode(self.mode)
        self._show_legend()
        self._show_all()

    def action_placeholders(self) -> None:
        plain = self.placeholders is Placeholders.PLAIN
        self.placeholders = Placeholders.FUTURE_WIDTH if plain else Placeholders.PLAIN
        self.grid.set_placeholders(self.placeholders)
        self.notify(
            "masked tokens take the width of the token to come (w: plain dots)"
            if plain
            else "masked tokens are plain dots (w: the width of the token to come)",
            markup=False,
        )

    def action_info(self) -> None:
        if self.recording.ready and not isinstance(self.screen, InfoScreen):
            self.push_screen(InfoScreen(self.recording))

    def action_help(self) -> None:
        # Subclasses (live mode) add keys of their own: list the whole class hierarchy's.
        mro = [cls for cls in reversed(type(self).__mro__) if issubclass(cls, PlayerApp)]
        own = [binding for cls in mro for binding in vars(cls).get("BINDINGS", [])]
        self.push_screen(HelpScreen(self.TITLE, [*own, *TokenGrid.BINDINGS], self.get_key_display))

    # ------------------------------------------------------------------ find

    def action_find(self) -> None:
        if self.recording.ready:
            self.query_one(FindBar).open()

    @on(Input.Submitted, "#find")
    def _find_submitted(self, message: Input.Submitted) -> None:
        query = message.value
        self.query_one(FindBar).action_close()
        if not query:
            return
        self._match_query = query
        self._matches = find_text(self.recording, query)
        self._match_index = -1
        self.action_next_match(1)

    @on(FindBar.Closed)
    def _find_closed(self) -> None:
        self.grid.focus()

    def action_next_match(self, direction: int) -> None:
        if not self._match_query:
            self.notify("nothing to find yet: press / first", markup=False)
            return
        if not self._matches:
            self.notify(f"“{self._match_query}” never appears", severity="warning", markup=False)
            return
        self._match_index = (self._match_index + direction) % len(self._matches)
        match = self._matches[self._match_index]
        self.playback.pause()
        self.go_to(match.t)
        self.grid.set_cursor(match.pos)
        self.notify(
            f"“{self._match_query}” visible from step {match.t} "
            f"(match {self._match_index + 1} of {len(self._matches)}; n: next)",
            markup=False,
        )


def run_player(path: str, follow: bool = False) -> int:
    """Play a trace file (following it while it grows, with follow); returns the exit code.

    A file that cannot be played raises TraceError before the app starts; the CLI turns it
    into one line and exit status 1, as for `info` and `export`.
    """
    source = FollowSource.open(path) if follow else FileSource.open(path)
    app = PlayerApp(source)
    app.run()
    return app.return_code or 0
