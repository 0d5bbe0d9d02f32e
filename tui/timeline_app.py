"""What the player and compare share: an App whose keys move one timeline over trace views.

`play` drives one TraceView with these keys, `compare` two under one shared timeline. The
bindings and their actions live here once; each app says what they drive (`driven`: the one
view, or compare's shared timeline) and which view the keys for one run act on (`focused_view`:
find, run info, the help's sampler section, notices).
"""

from __future__ import annotations

import os
from typing import Protocol

from rich.text import Text
from textual import on
from textual.app import App
from textual.binding import Binding
from textual.events import Resize
from textual.notifications import SeverityLevel
from textual.widgets import Footer

from llada_tui.core.inert import inert_text
from llada_tui.tui.commands import PlayerCommands
from llada_tui.tui.help import ORDER_ROWS, HelpScreen, Section, sampler_rows
from llada_tui.tui.info import InfoScreen
from llada_tui.tui.playback import Playback
from llada_tui.tui.sources.messages import SourceFailed
from llada_tui.tui.themes import keep_legible_themes
from llada_tui.tui.trace_view import NARROW, TraceView
from llada_tui.tui.widgets.grid import TokenGrid
from llada_tui.tui.widgets.run_header import RunHeader

STEP_KEYS = Binding.Group("Step", compact=True)
PANELS_WIDTH = 72  # play: narrower, the answer keeps the columns (the narrow panels take 30)


class Driven(Protocol):
    """What the timeline keys move: a TraceView, or compare's shared timeline over two."""

    @property
    def position(self) -> int: ...

    @property
    def length(self) -> int: ...

    playback: Playback

    def go_to(self, t: int) -> None: ...
    def toggle_play(self) -> None: ...
    def jump(self, tenths: int) -> None: ...
    def to_block(self, direction: int) -> None: ...
    def change_speed(self, delta: int) -> None: ...
    def toggle_colour_mode(self) -> None: ...
    def toggle_placeholders(self) -> None: ...
    def toggle_order(self) -> None: ...


class TimelineApp(App[None]):
    CSS_PATH = "player.tcss"
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
        Binding(
            "o",
            "order",
            "Answer order",
            show=False,
            tooltip="Commit order: tokens ranked by final step, answer marked, ◆ when complete",
            id="order",
        ),
        Binding("slash", "find", "Find", tooltip="Find text: the first step at which it is visible", id="find"),
        Binding("n", "next_match(1)", "Next match", show=False, id="match-next"),
        Binding("N", "next_match(-1)", "Previous match", show=False, id="match-previous"),
        Binding("i", "info", "Run info", show=False, tooltip="Run info: whole prompt, model, parameters", id="info"),
        Binding("question_mark", "help", "Help", tooltip="Help: this screen", id="help"),
        Binding("q", "quit", "Quit", id="quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True, id="quit-now"),
    ]

    def __init__(self) -> None:
        # NO_COLOR: Textual's default filter still turns colours into greys; ansi_color makes
        # it drop every colour instead (bold, dim, underline and reverse stay).
        super().__init__(ansi_color=True if "NO_COLOR" in os.environ else None)
        keep_legible_themes(self)  # the palette's Theme offers only those the looks read on

    @property
    def driven(self) -> Driven:
        """What the timeline keys move."""
        raise NotImplementedError

    def focused_view(self) -> TraceView:
        """The view that the keys for one run (find, run info) act on."""
        raise NotImplementedError

    def help_sections(self) -> list[Section]:
        """The help screen's glossaries after the keys, marks and words."""
        recording = self.focused_view().recording
        sampler = sampler_rows(recording.header) if recording.ready else []
        return [
            Section("order", "The order overlay (o)", ORDER_ROWS),
            Section("sampler", "This run's sampler", sampler),
        ]

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Notifications go to a view's line under its grid (always inert, see TraceView.notify)."""
        self.focused_view().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def action_quit(self) -> None:
        for view in self.query(TraceView):
            view.stop()
        self.exit()

    def panels_fit(self, width: int, height: int) -> bool:
        """Whether the side panels (token, step) get their room at this terminal size; where they do
        not, the answer takes it and the line under the grid describes the picked token."""
        return width >= PANELS_WIDTH

    def on_resize(self, event: Resize) -> None:
        self.set_class(event.size.width < NARROW, "-narrow")
        self.set_class(not self.panels_fit(*event.size), "-no-panels")
        # narrow, the footer keeps its room for q Quit; the help screen names ctrl+p
        footer = self.query_one(Footer)
        if footer.show_command_palette != (event.size.width >= NARROW):
            footer.show_command_palette = event.size.width >= NARROW
            footer.refresh(recompose=True)

    def on_source_failed(self, message: SourceFailed) -> None:
        self.exit(return_code=1, message=Text(f"llada-tui: error: {inert_text(message.message)}"))

    @on(RunHeader.Clicked)
    def _header_clicked(self, message: RunHeader.Clicked) -> None:
        """The clicked run's info; its keys from now on (compare holds two)."""
        view = next(node for node in message.header.ancestors if isinstance(node, TraceView))
        view.grid.focus()
        self._show_info(view)

    # ------------------------------------------------------------------ keys: the timeline's

    def action_toggle_play(self) -> None:
        self.driven.toggle_play()

    def action_step(self, delta: int) -> None:
        self.driven.go_to(self.driven.position + delta)

    def action_first(self) -> None:
        self.driven.go_to(0)

    def action_last(self) -> None:
        self.driven.go_to(self.driven.length)

    def action_jump(self, tenths: int) -> None:
        self.driven.jump(tenths)

    def action_block(self, direction: int) -> None:
        self.driven.to_block(direction)

    def action_speed(self, delta: int) -> None:
        self.driven.change_speed(delta)
        if not self.speed_said():  # a narrow header leaves the speed out while paused: + and - say it here
            self.notify(f"speed: {self.driven.playback.speed:g} steps/s", markup=False)

    def speed_said(self) -> bool:
        """Whether the header says the playback speed now."""
        return self.focused_view().query_one(RunHeader).says_speed

    def action_colour_mode(self) -> None:
        self.driven.toggle_colour_mode()

    def action_placeholders(self) -> None:
        self.driven.toggle_placeholders()

    def action_order(self) -> None:
        self.driven.toggle_order()

    # ------------------------------------------------------------------ keys: one view's

    def action_find(self) -> None:
        self.focused_view().open_find()

    def action_next_match(self, direction: int) -> None:
        self.focused_view().next_match(direction)

    # ------------------------------------------------------------------ screens

    def action_info(self) -> None:
        self._show_info(self.focused_view())

    def _show_info(self, view: TraceView) -> None:
        if view.recording.ready and not isinstance(self.screen, InfoScreen):
            self.push_screen(InfoScreen(view.recording))

    def action_help(self) -> None:
        # Subclasses (live mode, compare) add keys of their own: list the whole class hierarchy's.
        mro = [cls for cls in reversed(type(self).__mro__) if issubclass(cls, TimelineApp)]
        own = [binding for cls in mro for binding in vars(cls).get("BINDINGS", [])]
        listed = [*own, *TokenGrid.BINDINGS]
        self.push_screen(HelpScreen(self.TITLE, listed, self.get_key_display, sections=self.help_sections()))
