"""`llada-tui compare A B`: two runs on one screen under one shared timeline.

Two TraceViews (tui/trace_view.py), one above the other, side by side when the terminal is
wide, driven by a SharedTimeline (tui/compare_timeline.py) with the player's keys
(tui/timeline_app.py); f lines the runs up by step or by fraction, v picks the view that find,
the token cursor and run info act on. The header says how the runs' parameters differ; tokens
not in the other run's final text are marked (tui/compare_runs.py). Either source may be a
followed file, still being written.
"""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container
from textual.events import DescendantFocus, Resize
from textual.widgets import Footer

from llada_tui.tui.compare_runs import differing_positions
from llada_tui.tui.compare_timeline import Scale, SharedTimeline
from llada_tui.tui.help import Section
from llada_tui.tui.sources.file import FileSource
from llada_tui.tui.sources.follow import FollowSource
from llada_tui.tui.sources.messages import HeaderArrived, RunEnded
from llada_tui.tui.sources.source import Source
from llada_tui.tui.timeline_app import TimelineApp
from llada_tui.tui.trace_view import TraceView
from llada_tui.tui.widgets.compare_header import CompareHeader

SIDE_BY_SIDE = 160  # columns from which the runs sit side by side
# The side panels (token, step) need room: a view at least this wide (its answer keeps 60 columns
# beside them), a screen this high when stacked.
PANELS_WIDTH = 100
PANELS_HEIGHT = 40

COMPARE_WORDS = [
    ("A B", "the two runs, as given on the command line; the header says how their parameters differ. The "
     "run that find, the token cursor and run info act on has its label marked (reversed without colour), "
     "the other's dim: v switches"),
    ("differs", "reversed colours (struck through without colour): a token that is not in the other run's "
     "final text, as a diff of the two texts shows it (a token that only moved is no difference)"),
    ("by step", "the shared timeline counts steps: both runs show their first T steps; a shorter run "
     "stays at its end"),
    ("by fraction", "the shared timeline counts the longer run's steps, and each run shows the same share "
     "of its own steps: runs with different step counts line up"),
    ("◆", "with the order overlay (o), on the shared timeline: the step at which a run's answer was complete"),
]  # fmt: skip


class CompareApp(TimelineApp):
    TITLE = "llada-tui compare"

    BINDINGS = [
        Binding(
            "f",
            "scale",
            "By step/fraction",
            show=False,
            tooltip="Line the runs up by step, or by the fraction of each run (different step counts)",
            id="scale",
        ),
        Binding(
            "v",
            "other_view",
            "Other run",
            show=False,
            tooltip="Find, token cursor, run info: the other run",
            id="other-view",
        ),
    ]

    def __init__(self, a: Source, b: Source, names: tuple[str, str]):
        super().__init__()
        self._sources = (a, b)
        self.views = (TraceView(id="a", shows_state=False, label="A"), TraceView(id="b", shows_state=False, label="B"))
        self.shared = SharedTimeline(self.views, follows=a.follows or b.follows, id="shared")
        self.compare_header = CompareHeader(names, id="compare-header")
        self._keys_view = self.views[0]
        self.views[1].has_keys = False  # A's keys first (v: B's)
        self.differing: tuple[frozenset[int], frozenset[int]] | None = None  # positions not in the other's text

    def compose(self) -> ComposeResult:
        yield self.compare_header
        with Container(id="views"):
            yield from self.views
        yield self.shared
        yield Footer()

    def on_mount(self) -> None:
        for view, source in zip(self.views, self._sources):
            view.load(source, "loading trace…")
        self._show_header()

    @property
    def driven(self) -> SharedTimeline:
        return self.shared

    def focused_view(self) -> TraceView:
        """The view focused last (A at first): the command palette's input takes the focus."""
        return self._keys_view

    def on_descendant_focus(self, event: DescendantFocus) -> None:
        for view in self.views:
            if event.widget is view or view in event.widget.ancestors:
                self._keys_view = view
        for view in self.views:
            view.set_has_keys(view is self._keys_view)

    def speed_said(self) -> bool:
        return self.compare_header.says_speed

    def help_sections(self) -> list[Section]:
        return [Section("compare", "Compare", COMPARE_WORDS), *super().help_sections()]

    def panels_fit(self, width: int, height: int) -> bool:
        wide = width >= SIDE_BY_SIDE
        view_width = width // 2 if wide else width
        return view_width >= PANELS_WIDTH and (wide or height >= PANELS_HEIGHT)

    # Textual calls the handlers of every class in the MRO (the base's too): no super() calls.
    def on_resize(self, event: Resize) -> None:
        self.set_class(event.size.width >= SIDE_BY_SIDE, "-side-by-side")

    # ------------------------------------------------------------------ the views, heard

    def on_trace_view_loaded(self, message: TraceView.Loaded) -> None:
        if message.view is self.views[-1]:
            self.call_after_refresh(self.views[0].grid.focus)  # A's keys first (v: B's)

    def on_trace_view_moved(self, message: TraceView.Moved) -> None:
        if self.shared.view_moved(message):
            self._show_differences()

    def on_header_arrived(self, message: HeaderArrived) -> None:
        self.call_later(self._runs_changed)  # after the view has taken the header in

    def on_run_ended(self, message: RunEnded) -> None:
        self.call_later(self._runs_changed)

    def _runs_changed(self) -> None:
        self.shared.runs_changed()
        self._show_differences()
        self._show_header()

    def _show_differences(self) -> None:
        a, b = (view.recording for view in self.views)
        if a.ready and b.ready:
            self.differing = differing_positions(a, b)
            for view, positions in zip(self.views, self.differing):
                view.set_differs(positions)
            self._show_header()

    def on_shared_timeline_changed(self, message: SharedTimeline.Changed) -> None:
        self._show_header()

    def _show_header(self) -> None:
        headers = tuple(view.recording.header for view in self.views)
        other = Scale.FRACTION if self.shared.scale is Scale.STEP else Scale.STEP
        counts = None if self.differing is None else tuple(map(len, self.differing))
        self.compare_header.show(headers, self.shared.playback, self.shared.scale.value, other.value, counts)

    # ------------------------------------------------------------------ compare's own keys

    def action_scale(self) -> None:
        self.shared.toggle_scale()
        if self.shared.scale is Scale.FRACTION:
            self.notify("by fraction: each run shows the same share of its steps (f: by step)", markup=False)
        else:
            self.notify("by step: both runs show the same number of steps (f: by fraction)", markup=False)

    def action_other_view(self) -> None:
        other = self.views[1] if self.focused_view() is self.views[0] else self.views[0]
        other.grid.focus()


def run_compare(first: str, second: str, follow: bool = False) -> int:
    """Play two traces under one timeline (following them while they grow, with follow).

    A file that cannot be played raises TraceError before the app starts (the CLI: one line,
    exit 1), as for `play`.
    """
    open_source = FollowSource.open if follow else FileSource.open
    sources = (open_source(first), open_source(second))
    app = CompareApp(*sources, names=(Path(first).name, Path(second).name))
    app.run()
    return app.return_code or 0
