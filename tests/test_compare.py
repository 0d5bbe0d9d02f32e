"""`llada-tui compare A B`: two runs under one shared timeline, by step or by fraction, with the
player's keys, the parameters that differ in the header, the tokens that differ marked, --follow."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console
from rich.style import Style
from synthetic_traces import ARITHMETIC, GatedTrace, write_trace
from textual.command import CommandPalette
from textual.pilot import Pilot
from waiting import wait_for

from llada_tui.core.run_index import RunIndex
from llada_tui.core.trace_reader import load_trace
from llada_tui.tui.compare import CompareApp, run_compare
from llada_tui.tui.compare_runs import differing_positions, fields
from llada_tui.tui.compare_timeline import Scale
from llada_tui.tui.help import HelpScreen
from llada_tui.tui.info import InfoScreen
from llada_tui.tui.palette import ColourMode
from llada_tui.tui.playback import State
from llada_tui.tui.sources.file import FileSource
from llada_tui.tui.sources.follow import FollowSource
from llada_tui.tui.trace_view import TraceView
from llada_tui.tui.widgets.legend_line import LegendLine
from llada_tui.tui.widgets.timeline import Timeline
from llada_tui.tui.widgets.token_line import TokenLine

SIZE = (120, 40)
# ARITHMETIC with its last sentence reworded: " sum" (position 22) becomes " total"
REWORDED = [*ARITHMETIC[:22], " total", *ARITHMETIC[23:]]


def screen_text(app: CompareApp) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def grid_text(view: TraceView) -> str:
    return "".join(view.grid.render_line(y).text for y in range(view.grid.size.height))


def cell_styles(view: TraceView) -> dict[int, Style]:
    """Each visible position's style as drawn (its first part's)."""
    grid, styles = view.grid, {}
    for line in range(grid.grid_layout.height):
        for part, segment in zip(grid.grid_layout.line_parts(line), grid.render_line(line)):
            styles.setdefault(part.pos, segment.style)
    return styles


def index_of(path: Path) -> RunIndex:
    return RunIndex.of_trace(load_trace(path))


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    """A: 16 steps in blocks of 8; B: the reworded answer in 8 steps."""
    return write_trace(tmp_path / "a.trace"), write_trace(tmp_path / "b.trace", REWORDED, steps=8)


def compare_app(a: Path, b: Path) -> CompareApp:
    return CompareApp(FileSource.open(a), FileSource.open(b), names=(a.name, b.name))


async def loaded(app: CompareApp, pilot: Pilot) -> None:
    await wait_for(lambda: all(view.recording.ended for view in app.views))
    await wait_for(lambda: app.shared.length == 16 and app.differing is not None)
    await pilot.pause()


async def test_both_runs_at_the_end_with_the_differences_said(pair: tuple[Path, Path]) -> None:
    app = compare_app(*pair)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app, pilot)
        a, b = app.views
        assert (a.position, b.position, app.shared.position) == (0, 0, 0)
        await pilot.press("end")
        assert (a.position, b.position, app.shared.position) == (16, 8, 16)
        assert "So the sum is 72." in grid_text(a) and "So the total is 72." in grid_text(b)
        text = screen_text(app)
        assert "A a.trace  vs  B b.trace" in text
        assert "differ: steps 16 | 8" in text and "same: model synthetic (float32 cpu)" in text
        assert "1 | 1 tokens differ" in text
        assert a.grid.differs == {22} and b.grid.differs == {22}
        for view in app.views:  # drawn: reversed colours, the differing token alone
            styles = cell_styles(view)
            assert styles[22].reverse and not any(styles[pos].reverse for pos in range(22))


async def test_without_colour_a_differing_token_is_struck_through(
    pair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = compare_app(*pair)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app, pilot)
        await pilot.press("end")
        styles = cell_styles(app.views[1])
        assert styles[22].strike and not styles[22].reverse and not any(styles[pos].strike for pos in range(22))


async def test_by_step_and_by_fraction(pair: tuple[Path, Path]) -> None:
    app = compare_app(*pair)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app, pilot)
        a, b = app.views
        await pilot.press("5")  # by step: T 8 of 16, B at its end
        assert (a.position, b.position) == (8, 8)
        await pilot.press("right", "right")
        assert (a.position, b.position, app.shared.position) == (10, 8, 10)
        await pilot.press("f")  # by fraction: the same share of each run
        assert app.shared.scale is Scale.FRACTION and (a.position, b.position) == (10, 5)
        assert "by fraction" in screen_text(app)
        await pilot.press("5")
        assert (a.position, b.position) == (8, 4)
        await pilot.press("end")
        assert (a.position, b.position) == (16, 8)
        await pilot.press("home")
        assert (a.position, b.position) == (0, 0)
        await pilot.press("f", "3")
        assert app.shared.scale is Scale.STEP and (a.position, b.position) == (5, 5)


async def test_the_players_keys_move_both_views(pair: tuple[Path, Path]) -> None:
    app = compare_app(*pair)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app, pilot)
        a, b = app.views
        await pilot.press("shift+right")
        assert (a.position, b.position) == (10, 8)
        await pilot.press("shift+left", "left")
        assert (a.position, b.position) == (0, 0)
        await pilot.press("right_square_bracket")  # the next block boundary of either run: B's 2
        assert app.shared.position == 2
        await pilot.press("right_square_bracket", "right_square_bracket")  # B's 4 (A's too), B's 6
        assert app.shared.position == 6
        await pilot.press("left_square_bracket")
        assert app.shared.position == 4
        await pilot.press("plus")
        assert app.shared.playback.speed == 20
        await pilot.press("minus", "minus")
        assert app.shared.playback.speed == 5
        await pilot.press("c")
        assert a.mode is b.mode is ColourMode.CONFIDENCE
        await pilot.press("w")
        assert a.grid.placeholders is b.grid.placeholders and a.grid.placeholders.value == "future width"
        # views' own playbacks stay paused: the shared one plays both
        await pilot.press("home", "space")
        assert app.shared.playback.state is State.PLAYING
        await wait_for(lambda: app.shared.position >= 3)
        assert a.position == app.shared.position and not a.playing and not b.playing
        await pilot.press("space")
        assert app.shared.playback.state is State.PAUSED
        assert "‖ paused" in screen_text(app) and "▶ playing" not in screen_text(app)


async def test_the_shared_timeline_seeks_by_click(pair: tuple[Path, Path]) -> None:
    app = compare_app(*pair)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app, pilot)
        timeline = app.query_one("#shared-timeline", Timeline)
        await pilot.click(timeline, offset=(timeline.content_region.width // 2 + 1, 0))
        await pilot.pause()
        assert app.shared.position == 8 and app.views[0].position == 8


async def test_order_overlay_marks_both_answers_on_the_shared_timeline(pair: tuple[Path, Path]) -> None:
    app = compare_app(*pair)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app, pilot)
        a, b = app.views
        await pilot.press("o")
        assert a.mode is b.mode is ColourMode.ORDER
        steps = [view.overlay.complete_step for view in app.views]
        expected = [steps[0], round(steps[1] * 16 / 8)] if app.shared.scale is Scale.FRACTION else steps
        assert app.query_one("#shared-timeline", Timeline).answer_marks == expected
        await pilot.press("o")
        assert a.overlay is None and a.mode is ColourMode.STEP
        assert app.query_one("#shared-timeline", Timeline).answer_marks == []


async def test_find_in_one_view_leads_and_the_other_follows(pair: tuple[Path, Path]) -> None:
    app = compare_app(*pair)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app, pilot)
        a, b = app.views
        assert app.focused_view() is a
        await pilot.press("v")
        assert app.focused_view() is b
        await pilot.press("slash", *"total", "enter")
        await pilot.pause()
        found = b.position
        assert found > 0 and "total" in grid_text(b)
        assert app.shared.position == found and a.position == found  # by step: A follows to the same t
        await pilot.press("i")
        assert isinstance(app.screen, InfoScreen) and app.screen._recording is b.recording


async def test_help_lists_compares_keys_and_marks(pair: tuple[Path, Path]) -> None:
    app = compare_app(*pair)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app, pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        console = Console(width=300, record=True)
        console.print(app.screen.query_one("#help-keys").content)
        keys = {line.split("  ", 1)[0]: line.split("  ", 1)[1].strip() for line in console.export_text().splitlines()}
        assert keys["f"].startswith("Line the runs up by step, or by the fraction")
        assert keys["v"].startswith("Find, token cursor, run info: the other run")
        assert keys["o"].startswith("Commit order")
        assert app.screen.query_one("#help-compare").content.title == "Compare"


def test_the_same_trace_twice_is_fine_and_differs_nowhere(tmp_path: Path) -> None:
    run = index_of(write_trace(tmp_path / "a.trace"))
    assert differing_positions(run, run) == (frozenset(), frozenset())
    differ, same = fields(run.header, run.header)
    assert differ == [] and [field.label for field in same][:3] == ["model", "sampler", "steps"]


def test_a_token_that_only_moved_is_no_difference(tmp_path: Path) -> None:
    shifted = ["<eos>", *ARITHMETIC[:-1]]  # the same text, one position later
    a = index_of(write_trace(tmp_path / "a.trace"))
    b = index_of(write_trace(tmp_path / "b.trace", shifted))
    assert differing_positions(a, b) == (frozenset(), frozenset())
    c = index_of(write_trace(tmp_path / "c.trace", REWORDED))
    assert differing_positions(a, c) == (frozenset({22}), frozenset({22}))


def test_the_header_fields_that_differ(tmp_path: Path) -> None:
    a = index_of(write_trace(tmp_path / "a.trace")).header
    params = {**a.params, "block_length": 16, "seed": 7, "temperature": 0.5, "steps": 8}
    b = replace(a, params=params, model={**a.model, "name": "other"})
    differ, _ = fields(a, b)
    assert [(f.label, f.a, f.b) for f in differ] == [
        ("model", "synthetic (float32 cpu)", "other (float32 cpu)"),
        ("steps", "16", "8"),
        ("blocks of", "8", "16"),
        ("temp", "0", "0.5"),
        ("seed", "0", "7"),
    ]
    hostile = replace(a, params={**a.params, "sampler": "wino\x1b[31m"}, prompt_text="hi\x1b]0;x\x07")
    differ, _ = fields(a, hostile)
    assert all("\x1b" not in f.b and "\x07" not in f.b for f in differ) and {f.label for f in differ} == {
        "sampler",
        "prompt",
    }


async def test_follow_while_one_run_is_still_being_written(tmp_path: Path) -> None:
    a = write_trace(tmp_path / "a.trace", steps=16)
    path = tmp_path / "growing.trace"
    with GatedTrace(path, REWORDED, 16, 8) as growing:
        app = CompareApp(FollowSource.open(a, interval=0.01), FollowSource.open(path, interval=0.01), ("a", "b"))
        async with app.run_test(size=SIZE) as pilot:
            first, second = app.views
            await wait_for(lambda: first.recording.ended and second.recording.ready)
            await pilot.press("end")
            assert app.shared.position == 16 and second.position == 0
            growing.release(5)
            await wait_for(lambda: second.length == 5)
            await pilot.pause()
            assert second.position == 5 and app.shared.position == 16  # B at its own end so far
            assert app.shared.playback.state is State.FOLLOWING  # at the live edge: B may grow
            assert "● following" in screen_text(app)
            await pilot.press("left")
            assert (app.shared.position, first.position, second.position) == (15, 15, 5)
            await pilot.press("end")
            growing.release(11)
            await wait_for(lambda: second.length == 16)
            await pilot.pause()
            assert app.shared.position == 16 and second.position == 16  # the live edge moved T along
            growing.release()
            await wait_for(lambda: second.recording.ended)
            await pilot.pause()
            await pilot.pause()
            assert app.shared.playback.state is State.ENDED
            assert first.grid.differs == {22} and second.grid.differs == {22}


def test_run_compare_opens_both_before_the_app_starts(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    from llada_tui.core.records import TraceError

    with pytest.raises(TraceError):
        run_compare(str(pair[0]), str(tmp_path / "missing.trace"))


async def test_the_command_palette_goes_to_a_step_of_the_shared_timeline(pair: tuple[Path, Path]) -> None:
    app = compare_app(*pair)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app, pilot)
        await pilot.press("f", "v", "ctrl+p")  # by fraction, B's keys: T 6 of 16 is B's step 3 of 8
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)
        assert app.focused_view() is app.views[1]  # the palette's input has the focus, B the keys
        await pilot.press(*"6")
        for _ in range(50):  # the palette searches in a worker
            await pilot.pause(0.02)
            if app.screen.query("CommandList Option"):
                break
        await pilot.press("enter")
        await wait_for(lambda: app.shared.position == 6)
        await pilot.pause()
        assert (app.views[0].position, app.views[1].position) == (6, 3)


async def test_a_click_on_a_runs_header_shows_that_runs_info(pair: tuple[Path, Path]) -> None:
    app = compare_app(*pair)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app, pilot)
        await pilot.click("#b RunHeader")
        await pilot.pause()
        assert isinstance(app.screen, InfoScreen) and app.screen._recording is app.views[1].recording
        await pilot.press("escape")
        assert app.focused_view() is app.views[1]


@pytest.mark.parametrize(
    ("size", "side_by_side", "panels"),
    [
        ((80, 24), False, False),
        ((100, 40), False, True),
        ((120, 30), False, False),  # stacked, each run's panels would be 12 rows
        ((160, 40), True, False),  # side by side, 80 columns a run: the answer keeps them
        ((200, 50), True, True),
    ],
)
async def test_the_layout_follows_the_terminal(
    pair: tuple[Path, Path], size: tuple[int, int], side_by_side: bool, panels: bool
) -> None:
    app = compare_app(*pair)
    async with app.run_test(size=size) as pilot:
        await loaded(app, pilot)
        await pilot.press("end")
        a, b = app.views
        assert (a.region.y == b.region.y) == side_by_side and (a.region.x == b.region.x) != side_by_side
        assert all(view.query_one("#side").display == panels for view in app.views)
        assert "So the sum is 72." in grid_text(a) and "So the total is 72." in grid_text(b)


async def test_without_the_panels_the_picked_token_is_described_under_its_grid(pair: tuple[Path, Path]) -> None:
    app = compare_app(*pair)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(app, pilot)
        a, b = app.views
        lines = [view.query_one(TokenLine) for view in app.views]

        def shown(line: TokenLine) -> str | None:
            return app.screen._compositor.render_strips()[line.region.y].text.strip() if line.display else None

        await pilot.press("end", "tab")
        index = index_of(pair[0])
        _, step, confidence = index.cell_at(0, 16)
        assert shown(lines[0]).startswith(
            f"“The” committed at step {step + 1} · conf {confidence:.2f} · alternatives “"
        )
        assert shown(lines[1]) is None
        await pilot.press("v", *["tab"] * 23)  # B's reworded token, position 22
        assert b.grid.cursor == 22 and shown(lines[1]).startswith("“ total” committed at step ")
        await pilot.press("escape")
        assert shown(lines[1]) is None and shown(lines[0]) is not None  # A's token is still picked
        await pilot.resize_terminal(120, 40)  # the panels again: the Token panel says it
        await pilot.pause()
        assert all(view.query_one("#side").display for view in app.views) and shown(lines[0]) is None


async def test_a_narrow_header_cuts_long_names_before_the_counts(
    pair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    said: list[str] = []  # the notices, kept (one on screen goes after a few seconds)
    monkeypatch.setattr(LegendLine, "show_notice", lambda self, message, title="", severity="": said.append(message))
    names = ("a-run-with-a-rather-long-name.trace", "b-run-with-a-longer-name-still.trace")
    app = CompareApp(FileSource.open(pair[0]), FileSource.open(pair[1]), names=names)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(app, pilot)
        await pilot.press("end")
        title = screen_text(app).splitlines()[0]
        assert title.rstrip().endswith("· 1 | 1 differ ■ at end · by step")  # no speed while not playing
        assert "A a-run-with-a-rat…  vs  B b-run-with-a-lon… · " in title
        await pilot.press("plus")  # the header does not say the speed: the line under the answer does
        assert said == ["speed: 20 steps/s"]
        await pilot.resize_terminal(160, 40)
        await wait_for(lambda: "tokens differ" in screen_text(app).splitlines()[0])
        assert f"A {names[0]}  vs  B {names[1]} · 1 | 1 tokens differ" in screen_text(app)
        await pilot.press("plus")
        await wait_for(lambda: "50 steps/s" in screen_text(app).splitlines()[0])
        assert said == ["speed: 20 steps/s"]  # said in the header: no notice


async def test_the_legend_names_the_differs_mark_only_where_tokens_differ(pair: tuple[Path, Path]) -> None:
    def legends(app: CompareApp) -> list[str]:
        return [str(view.query_one("#legend").render()) for view in app.views]

    app = compare_app(*pair)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app, pilot)
        assert all(legend.endswith("  differs") for legend in legends(app))
    app = compare_app(pair[0], pair[0])  # the same text: no mark to explain
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(lambda: all(view.recording.ended for view in app.views) and app.differing is not None)
        await pilot.pause()
        assert app.differing == (frozenset(), frozenset()) and "the same text" in screen_text(app)
        assert not any("differs" in legend for legend in legends(app))


def label_styles(app: CompareApp) -> dict[str, Style]:
    """The style of each run's label (" A ", " B ") in its header, as drawn."""
    found = {}
    for strip in app.screen._compositor.render_strips():
        for segment in strip:
            if segment.text in (" A ", " B "):
                found[segment.text.strip()] = segment.style
    return found


@pytest.mark.parametrize("no_color", [False, True], ids=["colour", "NO_COLOR"])
async def test_the_label_of_the_run_the_keys_act_on_stands_out(
    pair: tuple[Path, Path], no_color: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    app = compare_app(*pair)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app, pilot)

        first = label_styles(app)
        assert first["A"] != first["B"]
        if no_color:  # reverse video marks the run the keys act on; the other is dim
            assert first["A"].reverse and not first["B"].reverse and first["B"].dim
        else:  # its label on the cyan of the player's labels; the other's on the header's own background
            assert first["A"].bgcolor != first["B"].bgcolor
        await pilot.press("v")
        await pilot.pause()
        then = label_styles(app)
        if no_color:  # the marks changed places
            assert then["B"].reverse and not then["A"].reverse and then["A"].dim
        else:
            assert then["B"].bgcolor == first["A"].bgcolor != then["A"].bgcolor
        await pilot.press("v")
        await pilot.pause()
        assert app.focused_view() is app.views[0]
