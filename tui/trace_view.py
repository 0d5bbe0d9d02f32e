"""One run on screen: its header, answer grid, side panels, find bar and timeline, played from a source.

A TraceView owns everything of one run: the source's worker, the RunIndex (core/run_index.py) the
records go into, the Playback (tui/playback.py) that says where the timeline position t stands,
and the widgets that show it. `load(source)` is the one way a run gets into it, at start and when
live mode starts a new run. The parent drives it through `go_to(t)` and the other navigation
methods, and hears `TraceView.Moved` whenever its position or length changes: two views on one
screen each play their own run and can be held at the same t.

The source's messages (tui/sources/messages.py) are posted to the view; it handles what it shows
and lets them bubble on to the app.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.timer import Timer
from textual.widgets import Input, Static

from llada_tui.core.inert import inert_block
from llada_tui.core.run_index import RunIndex
from llada_tui.tui.order_overlay import OrderOverlay
from llada_tui.tui.palette import ColourMode, Piece, differs_legend, legend, order_legend
from llada_tui.tui.playback import Playback, State
from llada_tui.tui.search import Match, find_text
from llada_tui.tui.sources.messages import HeaderArrived, Quiet, RunEnded, SourceFailed, Status, StepsArrived
from llada_tui.tui.sources.source import Source
from llada_tui.tui.widgets.find_bar import FindBar
from llada_tui.tui.widgets.grid import Placeholders, TokenGrid
from llada_tui.tui.widgets.legend_line import LegendLine
from llada_tui.tui.widgets.run_header import RunHeader
from llada_tui.tui.widgets.step_panel import StepPanel
from llada_tui.tui.widgets.timeline import Timeline
from llada_tui.tui.widgets.token_line import TokenLine
from llada_tui.tui.widgets.token_panel import TokenPanel

SPEEDS = (1, 2, 5, 10, 20, 50, 100, 200, 500)  # steps per second
DEFAULT_SPEED = SPEEDS.index(10)
FRAME_SECONDS = 1 / 30
NARROW = 100  # below this many columns the side panels get narrower and the legend shorter


class TraceView(Vertical):
    @dataclass
    class Moved(Message):
        """The view's position or its length (steps known) changed."""

        view: TraceView
        position: int
        length: int

        @property
        def control(self) -> TraceView:
            return self.view

    @dataclass
    class Loaded(Message):
        """The view has started playing `source`: everything of the previous run was handled
        before this message, everything of the new one comes after it."""

        view: TraceView
        source: Source

        @property
        def control(self) -> TraceView:
            return self.view

    def __init__(self, *, id: str | None = None, shows_state: bool = True, label: str = ""):
        """shows_state: the header says whether it plays and how fast (compare says it once);
        label: the run's name on screen (compare's A and B)."""
        super().__init__(id=id)
        self.shows_state = shows_state
        self.label = label
        self.has_keys = True  # compare: whether find, the token cursor and run info act on this run
        self.source: Source | None = None
        self.recording = RunIndex()
        self.speed_index = DEFAULT_SPEED
        self.playback = Playback(SPEEDS[self.speed_index], follows=False)  # until a source is loaded
        self.mode = ColourMode.STEP
        self.colours = ColourMode.STEP  # the colouring c chose: the mode again when the overlay is off
        self.overlay: OrderOverlay | None = None  # the order overlay (o), while it is on
        self.differs: frozenset[int] | None = None  # compare: positions not in the other run's final text
        self.placeholders = Placeholders.PLAIN
        self._drawn_t = 0  # the position the grid and panels last showed
        self._moved = (0, 0)  # the (position, length) last announced with Moved
        self._stop = threading.Event()
        self._timer: Timer | None = None
        self._matches: list[Match] = []
        self._match_query = ""
        self._match_index = -1
        self._quiet_s: float | None = None  # following: seconds since the file last grew
        self._changed_mind: list[int] = []  # timeline positions after a step that revised or re-masked
        self._deliveries = 0  # messages of steps: a followed file complete when opened ends after its first

    def compose(self) -> ComposeResult:
        yield RunHeader(id="header")
        with Horizontal(id="body"):
            with Vertical(id="main"):
                yield Static(id="status")
                yield TokenGrid(self.recording, id="grid")
                yield TokenLine(id="token-line")
                yield LegendLine(id="legend")
            with Vertical(id="side"):
                yield TokenPanel(id="token-panel")
                yield StepPanel(id="step-panel")
        yield FindBar(id="find")
        yield Timeline(id="timeline")

    def on_mount(self) -> None:
        self.grid.display = False
        self.query_one(FindBar).display = False
        self._timer = self.set_interval(FRAME_SECONDS, self._tick, pause=True)

    def on_unmount(self) -> None:
        self._stop.set()

    @property
    def grid(self) -> TokenGrid:
        return self.query_one(TokenGrid)

    # ------------------------------------------------------------------ sources

    def load(self, source: Source, status: str) -> None:
        """Play `source` from its start, showing `status` until its header arrives.

        The current source is stopped; whatever it already posted is handled first (the switch
        is queued behind it), so nothing of the old run reaches the new one.
        """
        self._stop.set()
        self.call_later(self._load, source, status)

    def stop(self) -> None:
        """Stop the source at its next chance (a live run: at its next step)."""
        self._stop.set()

    async def _load(self, source: Source, status: str) -> None:
        self.source = source
        self.recording = RunIndex()
        self.playback = Playback(SPEEDS[self.speed_index], follows=source.follows)
        self._stop = threading.Event()
        self._drawn_t = 0
        self._matches, self._match_query, self._match_index = [], "", -1
        self._quiet_s = None
        self._changed_mind = []
        self._deliveries = 0
        grid = TokenGrid(self.recording, id="grid")  # a grid is bound to its run's index
        grid.monochrome = self.app.no_color
        if self.overlay is not None:  # kept on, for the new run: worked out again as its steps arrive
            self.overlay = OrderOverlay.of(self.recording)
        grid.set_mode(self.mode)
        grid.set_order(self.overlay)
        grid.placeholders = self.placeholders
        grid.display = False
        await self.grid.remove()
        await self.query_one("#main").mount(grid, before="#token-line")
        self._show_status(status)
        self.query_one("#status").display = True
        self.query_one(Timeline).show(0, 0, 0, [])  # the previous run's timeline goes with its grid
        self.post_message(self.Loaded(self, source))  # before anything the new source posts
        self._sync()
        self._run_source(source, self._stop)
        grid.focus()
        self._show_all()

    @work(thread=True, exit_on_error=False)
    def _run_source(self, source: Source, stop: threading.Event) -> None:
        source.run(self.post_message, stop)

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
        self._update_overlay()
        self._show_legend()
        self._show_all()

    def on_quiet(self, message: Quiet) -> None:
        self._quiet_s = message.seconds
        self._show_header()

    def on_steps_arrived(self, message: StepsArrived) -> None:
        self._quiet_s = None
        self._deliveries += 1
        first = self.recording.length
        self.recording.add(message.steps)
        self.grid.steps_added(first)
        self._update_overlay()
        if self.recording.header.revises:
            counts = zip(self.recording.revised_per_step[first:], self.recording.remasked_per_step[first:])
            self._changed_mind += [t for t, (revised, remasked) in enumerate(counts, first + 1) if revised or remasked]
        if self.recording.header.total_steps is None:  # the legend's scale ends at the steps seen so far
            self._show_legend()
        self.playback.grow(self.recording.length)
        self._sync()
        self._show_all()

    def on_run_ended(self, message: RunEnded) -> None:
        self.recording.finish(message.end, message.problem)
        self.playback.finish()
        self._update_overlay()
        self._sync()
        if message.problem:
            self.notify(message.problem, title="Trace", severity="warning", markup=False, timeout=8)
        elif self.playback.follows and self._deliveries > 1:  # it ended while watched (the header says so too)
            self.notify("the run ended", title="Trace", markup=False)
        self._show_all()

    def on_source_failed(self, message: SourceFailed) -> None:
        self._stop.set()  # and on to the app, which exits saying why

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Notices go to the view's line under the grid, not to toasts over the panels.

        Always shown as plain, inert text, whatever `markup` says: they quote trace contents
        and what the user typed, and Textual's own few notices need no styling.
        """
        self.query_one(LegendLine).show_notice(message, title, severity)

    # ------------------------------------------------------------------ drawing

    @property
    def position(self) -> int:
        """The timeline position: steps shown (0 = all masked)."""
        return self.playback.position

    @property
    def length(self) -> int:
        """Steps known so far."""
        return self.recording.length

    @property
    def playing(self) -> bool:
        return self.playback.playing

    def on_resize(self) -> None:
        self._show_legend()

    def _show_legend(self) -> None:
        if self.recording.ready:
            narrow = self.outer_size.width < NARROW  # the view's: compare holds two
            # beside the side panels a wide view's legend may not fit either: the compact one then
            wordings = [self._legend_words(compact) for compact in ((True,) if narrow else (False, True))]
            self.query_one(LegendLine).set_legend(*wordings)

    def _legend_words(self, compact: bool) -> list[Piece]:
        revisions = self.recording.header.revises  # marks to explain too: a shorter scale
        width = 4 if compact else 8 if revisions else 16
        if self.mode is ColourMode.ORDER:
            complete = self.overlay.complete_step if self.overlay is not None else None
            words = order_legend(complete, self.app.no_color, 4 if compact else 8, compact)
        else:
            words = legend(self.mode, self.recording.total_steps, self.app.no_color, width, compact, revisions)
        if self.differs:  # compare, where this run has tokens the other's text lacks
            words += differs_legend(self.app.no_color)
        return words

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
        if (self.position, self.length) != self._moved:
            self._moved = (self.position, self.length)
            self.post_message(self.Moved(self, *self._moved))

    def _show_all(self) -> None:
        self._show_header()
        recording = self.recording
        if recording.ready:
            self.query_one(Timeline).show(
                self.position,
                recording.length,
                recording.total_steps,
                recording.boundaries(),
                list(self._changed_mind),
                self.answer_marks(),
            )
        self.query_one(StepPanel).show(recording, self.position)
        self._show_token(self.grid.cursor)

    def _show_token(self, pos: int | None) -> None:
        """The picked token, in the Token panel and in the line under the grid (shown when the panel is hidden)."""
        self.query_one(TokenPanel).show(self.recording, self.position, pos, self.mode)
        self.query_one(TokenLine).show(self.recording, self.position, pos)

    def set_has_keys(self, has_keys: bool) -> None:
        """Compare: this run is (or is no longer) the one the keys for one run act on; its label says so."""
        if has_keys != self.has_keys:
            self.has_keys = has_keys
            self._show_header()

    def _show_header(self) -> None:
        header = self.query_one(RunHeader)
        header.show(self.recording, self.playback, self._quiet_s, self.shows_state, self.label, self.has_keys)

    def answer_marks(self) -> list[int]:
        """The timeline's marks of the order overlay: the step at which the answer span was complete."""
        overlay = self.overlay
        return [] if overlay is None or overlay.complete_step is None else [overlay.complete_step]

    @on(TokenGrid.CursorMoved)
    def _cursor_moved(self, message: TokenGrid.CursorMoved) -> None:
        self._show_token(message.pos)

    @on(Timeline.Seek)
    def _seek(self, message: Timeline.Seek) -> None:
        self.go_to(message.t)

    @on(Timeline.Wheel)
    def _wheel(self, message: Timeline.Wheel) -> None:
        self.go_to(self.position + message.steps)

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

    def toggle_play(self) -> None:
        if self.recording.ready:
            self.playback.toggle()
            self._sync()

    def jump(self, tenths: int) -> None:
        """Go to tenths/10 of the steps known."""
        self.go_to(round(self.length * tenths / 10))

    def to_block(self, direction: int) -> None:
        """Go to the next (direction > 0) or previous block boundary, or to the end or start."""
        starts = sorted({*self.recording.boundaries(), 0, self.length})
        starts = [s for s in starts if s <= self.length]
        if direction > 0:
            self.go_to(next((s for s in starts if s > self.position), self.length))
        else:
            self.go_to(next((s for s in reversed(starts) if s < self.position), 0))

    def change_speed(self, delta: int) -> None:
        self.speed_index = max(0, min(len(SPEEDS) - 1, self.speed_index + delta))
        self.playback.set_speed(SPEEDS[self.speed_index])
        self._sync()

    def toggle_colour_mode(self) -> None:
        """Colour by commit step or by confidence (and leave the order overlay)."""
        if self.overlay is None:
            self.colours = ColourMode.CONFIDENCE if self.colours is ColourMode.STEP else ColourMode.STEP
        self._set_mode(self.colours, None)

    def toggle_order(self) -> None:
        """The order overlay on or off; on, it says when the run's text has no answer span."""
        if not self.recording.ready:
            return
        if self.overlay is not None:
            self._set_mode(self.colours, None)
            return
        self._set_mode(ColourMode.ORDER, OrderOverlay.of(self.recording))
        if not self.overlay.found:
            self.notify("no answer span: the text has no “answer is …” (yet)", markup=False)

    def _set_mode(self, mode: ColourMode, overlay: OrderOverlay | None) -> None:
        self.mode, self.overlay = mode, overlay
        self.grid.set_order(overlay)
        self.grid.set_mode(mode)
        self._show_legend()
        self._show_all()

    def _update_overlay(self) -> None:
        """Steps arrived or the run ended: the answer span, its steps and the ranks may change."""
        if self.overlay is not None:
            self.overlay = OrderOverlay.of(self.recording)
            self.grid.set_order(self.overlay)
            self._show_legend()

    def set_differs(self, positions: frozenset[int]) -> None:
        """Compare: mark these positions as not in the other run's final text (the legend says so, if any)."""
        said = bool(self.differs)
        self.differs = positions
        self.grid.set_differs(positions)
        if said != bool(positions):  # the legend names the mark while there is one
            self._show_legend()

    def toggle_placeholders(self) -> None:
        plain = self.placeholders is Placeholders.PLAIN
        self.placeholders = Placeholders.FUTURE_WIDTH if plain else Placeholders.PLAIN
        self.grid.set_placeholders(self.placeholders)
        self.notify(
            "masked tokens take the width of the token to come (w: plain dots)"
            if plain
            else "masked tokens are plain dots (w: the width of the token to come)",
            markup=False,
        )

    # ------------------------------------------------------------------ find

    def open_find(self) -> None:
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
        self.next_match(1)

    @on(FindBar.Closed)
    def _find_closed(self) -> None:
        self.grid.focus()

    def next_match(self, direction: int) -> None:
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
