"""The trace view as a reusable piece: two on one screen, each playing its own run, driven to one t."""

from __future__ import annotations

from pathlib import Path

from synthetic_traces import write_trace
from textual.app import App, ComposeResult
from waiting import wait_for

from llada_tui.tui.sources.file import FileSource
from llada_tui.tui.trace_view import TraceView

SIZE = (120, 50)
SHORT_ANSWER = ["Two", " plus", " two", " is", " four", ".", "<eot>", "<eos>"]


class TwoViews(App[None]):
    """What a compare screen would hold: two views, each given its own source."""

    def __init__(self, first: Path, second: Path):
        super().__init__()
        self.sources = {"a": FileSource.open(first), "b": FileSource.open(second)}
        self.moves: list[tuple[str, int, int]] = []
        self.loaded: list[str] = []

    def compose(self) -> ComposeResult:
        yield TraceView(id="a")
        yield TraceView(id="b")

    def on_mount(self) -> None:
        for view in self.query(TraceView):
            view.load(self.sources[view.id], "loading…")

    def on_trace_view_moved(self, message: TraceView.Moved) -> None:
        self.moves.append((message.view.id, message.position, message.length))

    def on_trace_view_loaded(self, message: TraceView.Loaded) -> None:
        self.loaded.append(message.view.id)

    def view(self, name: str) -> TraceView:
        return self.query_one(f"#{name}", TraceView)


def grid_text(view: TraceView) -> str:
    return "".join(view.grid.render_line(y).text for y in range(view.grid.size.height))


async def test_two_views_each_play_their_own_run_and_go_to_the_same_step(tmp_path: Path) -> None:
    app = TwoViews(write_trace(tmp_path / "a.trace"), write_trace(tmp_path / "b.trace", SHORT_ANSWER, steps=8))
    async with app.run_test(size=SIZE) as pilot:
        a, b = app.view("a"), app.view("b")
        await wait_for(lambda: a.recording.ended and b.recording.ended)
        await pilot.pause()
        assert sorted(app.loaded) == ["a", "b"]
        assert (a.length, b.length) == (16, 8) and a.recording is not b.recording
        assert ("a", 0, 16) in app.moves and ("b", 0, 8) in app.moves  # the lengths arrived

        for view in (a, b):
            view.go_to(5)
        await pilot.pause()
        assert (a.position, b.position) == (5, 5)
        assert app.moves[-2:] == [("a", 5, 16), ("b", 5, 8)]
        assert grid_text(a) != grid_text(b)

        for view in (a, b):
            view.go_to(12)  # past the shorter run: each clamps to its own length
        await pilot.pause()
        assert (a.position, b.position) == (12, 8)
        a.go_to(16)
        await pilot.pause()
        assert "answer is 72" in grid_text(a) and "four" not in grid_text(a)  # each grid shows its own run
        assert "two is four" in grid_text(b) and "answer" not in grid_text(b)

        a.toggle_play()  # one view plays, the other stays where it is
        assert a.playing and not b.playing


async def test_loading_another_source_replaces_the_run(tmp_path: Path) -> None:
    app = TwoViews(write_trace(tmp_path / "a.trace"), write_trace(tmp_path / "b.trace", SHORT_ANSWER, steps=8))
    async with app.run_test(size=SIZE) as pilot:
        a = app.view("a")
        await wait_for(lambda: a.recording.ended)
        a.go_to(10)
        old = a.recording
        a.load(FileSource.open(tmp_path / "b.trace"), "loading…")  # the one path, as at start
        await wait_for(lambda: a.recording is not old and a.recording.ended)
        await pilot.pause()
        assert app.loaded.count("a") == 2
        assert (a.position, a.length) == (0, 8) and app.moves[-1][0] == "a"
        a.go_to(8)
        await pilot.pause()
        assert "two is four" in grid_text(a)
