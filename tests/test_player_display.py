"""What the player shows besides the grid's text: NO_COLOR, notices, labels and marks explained."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.console import Console
from synthetic_traces import GatedTrace, write_trace
from test_player import SIZE, screen_text, started
from textual.app import App, ComposeResult
from waiting import wait_for

from llada_tui.core.run_index import RunIndex
from llada_tui.core.trace_reader import load_trace
from llada_tui.tui.app import PlayerApp
from llada_tui.tui.playback import Playback
from llada_tui.tui.sources.file import FileSource
from llada_tui.tui.sources.follow import FollowSource
from llada_tui.tui.widgets import legend_line
from llada_tui.tui.widgets.grid import TokenGrid
from llada_tui.tui.widgets.legend_line import LegendLine
from llada_tui.tui.widgets.run_header import RunHeader
from llada_tui.tui.widgets.step_panel import StepPanel
from llada_tui.tui.widgets.token_panel import TokenPanel

SGR = re.compile(r"\x1b\[([0-9;]*)m")


def terminal_output(app: PlayerApp) -> str:
    """The screen as a terminal receives it."""
    console = Console(force_terminal=True, color_system="truecolor", width=app.size.width)
    return "\n".join(strip.render(console) for strip in app.screen._compositor.render_strips())


def colour_codes(output: str) -> set[str]:
    """Every SGR parameter that sets a colour (30-49 except the defaults 39 and 49, 90-107, 38;... 48;...)."""
    found = set()
    for match in SGR.finditer(output):
        params = match.group(1).split(";")
        i = 0
        while i < len(params):
            code = int(params[i] or 0)
            if code in (38, 48):
                found.add(";".join(params[i : i + 3 if params[i + 1] == "5" else i + 5]))
                i += 3 if params[i + 1] == "5" else 5
                continue
            if 30 <= code <= 47 and code not in (39, 49) or 90 <= code <= 107:
                found.add(str(code))
            i += 1
    return found


def grid_styles(app: PlayerApp) -> list[tuple[str, object]]:
    grid = app.query_one(TokenGrid)
    return [(segment.text, segment.style) for y in range(grid.size.height) for segment in grid.render_line(y)]


# ---------------------------------------------------------------------- NO_COLOR


async def test_no_color_emits_no_colour_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = PlayerApp(FileSource.open(write_trace(tmp_path / "run.trace")))
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        outputs = []
        for keys in (["6", "tab", "tab"], ["c"], ["end", "question_mark"]):
            await pilot.press(*keys)
            outputs.append(terminal_output(app))
    for output in outputs:
        assert colour_codes(output) == set()
        assert SGR.search(output)  # ...while bold, dim, underline, reverse remain


async def test_colour_without_colour_codes_is_meant(tmp_path: Path) -> None:
    # the check above can fail: with colours, the same screens are full of colour codes
    app = PlayerApp(FileSource.open(write_trace(tmp_path / "run.trace")))
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await pilot.press("6")
        assert colour_codes(terminal_output(app))


async def test_no_color_shows_the_commit_step_and_c_changes_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = PlayerApp(FileSource.open(write_trace(tmp_path / "run.trace")))
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await pilot.press("end", "escape")
        looks = {
            (bool(style.dim), bool(style.bold)) for text, style in grid_styles(app) if any(c.isalnum() for c in text)
        }
        assert {(True, False), (False, False), (False, True)} <= looks  # early dim, middle plain, late bold
        by_step, legend_by_step = grid_styles(app), app.query_one(LegendLine).render().plain
        assert "commit step dim ≤" in legend_by_step
        await pilot.press("c")
        assert grid_styles(app) != by_step  # the same tokens, now by confidence
        assert "confidence dim <0.33" in app.query_one(LegendLine).render().plain


SAMPLES = Path(__file__).resolve().parent.parent / "sample_traces"


@pytest.mark.parametrize("no_color", [True, False])
@pytest.mark.parametrize("size", [(80, 24), (100, 30), (120, 30)])
@pytest.mark.parametrize("sample", ["lily.trace", "lily-wino.trace"])
async def test_legends_keep_their_last_mark(sample: str, size: tuple[int, int], no_color: bool, monkeypatch) -> None:
    # without colour the thirds' bounds ("dim ≤21 · plain · bold ≥43") pushed "⋄ special", "re-masked" and
    # the overlay's complete step off the end of the line; at 100 columns, beside the panels, so did the
    # full wording in colour
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    app = PlayerApp(FileSource.open(SAMPLES / sample))
    revises = "wino" in sample
    last_marks = {"step": "re-masked" if revises else "special", "order": "step 6" if revises else "step 47"}

    def legend_on_screen() -> str:
        place = app.query_one(LegendLine).region
        return screen_text(app).splitlines()[place.y][place.x : place.right].rstrip()

    async with app.run_test(size=size) as pilot:
        await started(app, pilot)
        await pilot.press("end")
        for keys, mode in (([], "step"), (["c"], "step"), (["o"], "order")):
            await pilot.press(*keys)
            await pilot.pause()
            shown = legend_on_screen()
            assert shown.endswith(last_marks[mode]) and "…" not in shown, (keys, shown)


# ---------------------------------------------------------------------- notices


async def test_notices_go_under_the_grid_and_cover_nothing(trace_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(legend_line.NOTICE_SECONDS, "information", 0.3)
    app = PlayerApp(FileSource.open(trace_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        await pilot.press("end")
        before = screen_text(app).splitlines()
        await pilot.press("n")  # nothing to find yet
        await pilot.pause()
        assert not app.screen.query("Toast")
        after = screen_text(app).splitlines()
        place = app.query_one(LegendLine).region
        assert "nothing to find yet" in after[place.y][place.x : place.right]
        changed = {(x, y) for y, (a, b) in enumerate(zip(before, after)) for x in range(len(a)) if a[x] != b[x]}
        assert changed and all(place.contains(x, y) for x, y in changed)  # the panels and timeline unchanged
        await pilot.pause(0.5)
        assert "nothing to find yet" not in screen_text(app)
        assert "this step" in screen_text(app) and "masked" in screen_text(app)  # the legend is back


@pytest.fixture
def trace_path(tmp_path: Path) -> Path:
    return write_trace(tmp_path / "run.trace")


# ---------------------------------------------------------------------- placeholders


def grid_lines(app: PlayerApp) -> list[str]:
    grid = app.query_one(TokenGrid)
    return [grid.render_line(y).text.rstrip() for y in range(grid.size.height)]


async def test_masked_tokens_are_plain_dots_that_give_nothing_away(trace_path: Path) -> None:
    app = PlayerApp(FileSource.open(trace_path))
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        at_start = "".join(grid_lines(app))
        assert set(at_start) == {"·"}  # no word shapes: one dot per token, no spaces between
        assert at_start.count("·") == app.recording.gen_length
        await pilot.press("right")  # a token lands: the text flows around what is shown
        assert "72" in "".join(grid_lines(app)) and " " in "".join(grid_lines(app))


async def test_w_switches_to_placeholders_the_width_of_the_token_to_come(trace_path: Path) -> None:
    app = PlayerApp(FileSource.open(trace_path))
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await pilot.press("w")
        at_start = grid_lines(app)
        assert at_start[0].startswith("··· ······ ·· ···")  # "The answer is 72." to come
        assert "width of the token to come" in app.query_one(LegendLine).notice
        await pilot.press("end")
        at_end = grid_lines(app)
        assert [len(line) for line in at_start] == [len(line) for line in at_end]  # a layout that stays put
        await pilot.press("w", "home")
        assert set("".join(grid_lines(app))) == {"·"}


async def test_the_narrow_token_panel_keeps_the_confidence_and_the_steps(trace_path: Path) -> None:
    # 26 columns inside: "committed at step 9 · conf 0.84" does not fit in a row, "over steps 5–9" neither
    app = PlayerApp(FileSource.open(trace_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        await pilot.press("end")
        recording = app.recording
        pos = next(pos for pos in range(recording.gen_length) if len(recording.top_candidate_history(pos)) > 1)
        app.grid.set_cursor(pos)
        await pilot.pause()
        _, step, confidence = recording.cell_at(pos, recording.length)
        rows = [row.plain for row in app.query_one(TokenPanel).rows]
        assert rows[2:4] == [f"committed at step {step + 1}", f"conf {confidence:.2f}"]
        assert rows[4].startswith("top guess p ") and rows[5].startswith("over steps 1–")
        assert all(cell_len(row) <= app.query_one(TokenPanel).content_region.width for row in rows)


class HeaderOnly(App[None]):
    def compose(self) -> ComposeResult:
        yield RunHeader()


@pytest.mark.parametrize(
    ("width", "says"),
    [(120, "‖ paused 10 steps/s  step 2/4 of 16  block 1/4  ○ behind live: End to catch up"),
     (80, "‖ paused 10 steps/s  step 2/4 of 16  b1/4  ○ End: catch up"),
     (66, "‖ paused  step 2/4 of 16  b1/4  ○ End: catch up")],
)  # fmt: skip
async def test_a_narrow_header_words_the_position_shorter_and_keeps_the_prompt(
    tmp_path: Path, width: int, says: str
) -> None:
    recording = RunIndex.of_trace(load_trace(write_trace(tmp_path / "run.trace", stop_after=4, ending="none")))
    playback = Playback(10, follows=True)
    playback.grow(4)
    playback.seek(2)  # behind the live edge
    async with HeaderOnly().run_test(size=(width, 4)) as pilot:
        pilot.app.query_one(RunHeader).show(recording, playback)
        await pilot.pause()
        line = pilot.app.screen._compositor.render_strips()[1].text.rstrip()
        assert line.endswith(says) and line.startswith(" prompt: What is")


async def test_following_says_the_run_ended_only_when_it_ended_while_watched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    said: list[str] = []  # every notice, kept: one on screen is gone after a few seconds of a busy machine
    monkeypatch.setattr(LegendLine, "show_notice", lambda self, message, title="", severity="": said.append(message))
    done = write_trace(tmp_path / "done.trace")  # complete when opened: its header says "■ ended", no news
    app = PlayerApp(FollowSource.open(done, interval=0.01))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(lambda: app.recording.ended)
        await pilot.pause()
        assert said == [] and "■ ended" in screen_text(app)
    path = tmp_path / "growing.trace"
    with GatedTrace(path) as growing:
        app = PlayerApp(FollowSource.open(path, interval=0.01))
        async with app.run_test(size=SIZE) as pilot:
            growing.release(3)
            await wait_for(lambda: app.recording.length == 3)
            growing.release(len(growing.steps) - 3 + 1)  # the other steps and the end record
            await wait_for(lambda: app.recording.ended)
            await pilot.pause()
            assert said == ["the run ended"]


async def test_the_header_is_worded_again_when_the_terminal_narrows(tmp_path: Path) -> None:
    recording = RunIndex.of_trace(load_trace(write_trace(tmp_path / "run.trace", stop_after=4, ending="none")))
    playback = Playback(10, follows=True)
    playback.grow(4)
    playback.seek(2)
    async with HeaderOnly().run_test(size=(120, 4)) as pilot:
        pilot.app.query_one(RunHeader).show(recording, playback)
        await pilot.pause()
        await pilot.resize_terminal(80, 4)
        await wait_for(lambda: "○ End: catch up" in pilot.app.screen._compositor.render_strips()[1].text)


async def test_the_narrow_step_panel_keeps_room_for_its_chart(trace_path: Path) -> None:
    app = PlayerApp(FileSource.open(trace_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        await pilot.press("5")
        panel = app.query_one(StepPanel)
        chart = [row.plain for row in panel.rows][-1]
        assert chart.startswith("committed/step ") and len(chart) == panel.content_region.width
        bars = chart.removeprefix("committed/step ")
        assert len(bars) >= 11 and set(bars) <= set("▁▂▃▄▅▆▇█ ")  # after "(max 2) " it had 3 cells
