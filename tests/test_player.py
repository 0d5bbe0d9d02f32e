"""Pilot tests of the player: every binding, the mouse, follow mode, bad files, no torch."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console
from rich.text import Text
from synthetic_traces import ARITHMETIC, GatedTrace, Vocabulary, header_for, hostile_trace, llada_steps, write_trace
from textual.command import CommandPalette
from textual.events import MouseScrollDown, MouseScrollUp
from textual.pilot import Pilot
from textual.widgets import Static

from llada_tui.core.records import End, Header, TraceError
from llada_tui.core.trace_writer import TraceWriter
from llada_tui.tui.app import PlayerApp, run_player
from llada_tui.tui.help import HelpScreen
from llada_tui.tui.palette import ColourMode
from llada_tui.tui.sources.file import FileSource
from llada_tui.tui.sources.follow import FollowSource
from llada_tui.tui.trace_view import SPEEDS
from llada_tui.tui.widgets.grid import TokenGrid
from llada_tui.tui.widgets.timeline import Timeline

SIZE = (120, 40)
STEPS = 16


@pytest.fixture
def trace_path(tmp_path: Path) -> Path:
    return write_trace(tmp_path / "run.trace")


def screen_text(app: PlayerApp) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def grid_text(app: PlayerApp) -> str:
    grid = app.query_one(TokenGrid)
    return "\n".join(grid.render_line(y).text.rstrip() for y in range(grid.size.height))


async def started(app: PlayerApp, pilot: Pilot) -> None:
    """Wait until the source has delivered everything it has."""
    for _ in range(100):
        await pilot.pause()
        if app.recording.ended:
            return
    raise AssertionError("the source never delivered the end")


async def test_opens_paused_at_the_start_with_everything_masked(trace_path: Path) -> None:
    app = PlayerApp(FileSource.open(trace_path))
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        assert app.position == 0 and not app.view.playing
        text = grid_text(app)
        assert "answer" not in text and "·" in text
        assert "step 0/16" in screen_text(app)


POSITION_KEYS = [
    (["right"], 1),
    (["l"], 1),
    (["full_stop"], 1),
    (["right", "right", "left"], 1),
    (["right", "right", "h"], 1),
    (["right", "right", "comma"], 1),
    (["left"], 0),  # clamped at the start
    (["shift+right"], 10),
    (["pagedown"], 10),
    (["pagedown", "pagedown"], STEPS),  # clamped at the end
    (["end", "shift+left"], STEPS - 10),
    (["end", "pageup"], STEPS - 10),
    (["end"], STEPS),
    (["G"], STEPS),
    (["end", "home"], 0),
    (["end", "g"], 0),
    (["5"], 8),
    (["9"], 14),
    (["end", "0"], 0),
    (["right_square_bracket"], 4),  # 4 steps per block
    (["right_square_bracket", "right_square_bracket"], 8),
    (["end", "left_square_bracket"], 12),
    (["6", "left_square_bracket"], 8),
    (["6", "left_square_bracket", "left_square_bracket"], 4),
]


async def test_position_keys(trace_path: Path) -> None:
    app = PlayerApp(FileSource.open(trace_path))
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        for keys, expected in POSITION_KEYS:
            app.position = 0
            await pilot.press(*keys)
            assert app.position == expected, keys
            assert f"step {expected}/{STEPS}" in screen_text(app)


async def test_stepping_shows_the_committed_tokens(trace_path: Path) -> None:
    app = PlayerApp(FileSource.open(trace_path))
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await pilot.press("right")
        assert "72" in grid_text(app)  # the answer comes first: position 3 is the surest
        assert "answer" not in grid_text(app)
        await pilot.press("end")
        assert grid_text(app).startswith("The answer is 72.↵")
        assert "·" not in grid_text(app)


async def test_repainting_only_changed_lines_matches_a_full_render(trace_path: Path) -> None:
    app = PlayerApp(FileSource.open(trace_path))
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        grid = app.query_one(TokenGrid)
        region = grid.content_region
        for keys in [["right"]] * STEPS + [["home"], ["5"], ["c"], ["left"], ["tab"], ["end"]]:
            await pilot.press(*keys)
            await pilot.pause()
            on_screen = [
                strip.crop(region.x, region.right).text.rstrip()
                for strip in app.screen._compositor.render_strips()[region.y : region.bottom]
            ]
            assert on_screen == grid_text(app).split("\n")


async def test_speed_keys(trace_path: Path) -> None:
    app = PlayerApp(FileSource.open(trace_path))
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        start = app.view.speed_index
        await pilot.press("plus")
        assert app.view.speed_index == start + 1
        assert f"{SPEEDS[start + 1]} steps/s" in screen_text(app)
        await pilot.press("minus", "minus")
        assert app.view.speed_index == start - 1
        await pilot.press(*["minus"] * len(SPEEDS))
        assert app.view.speed_index == 0
        await pilot.press(*["equals_sign"] * len(SPEEDS))
        assert app.view.speed_index == len(SPEEDS) - 1


async def test_play_runs_to_the_end_and_stops(trace_path: Path) -> None:
    app = PlayerApp(FileSource.open(trace_path))
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await pilot.press(*["minus"] * 2)  # 2 steps/s: 8 s to the end, so a slow key press still finds it playing
        await pilot.press("space")
        assert app.view.playing
        assert "playing" in screen_text(app)
        await pilot.press(*["plus"] * 4)  # 50 steps/s: the rest in under a second
        for _ in range(500):
            await pilot.pause(0.02)
            if not app.view.playing:
                break
        assert not app.view.playing and app.position == STEPS
        await pilot.press(*["minus"] * 10, "space")  # at the end, play starts over (at 1 step/s)
        assert app.view.playing and app.position < 2
        await pilot.press("space")
        assert not app.view.playing


async def test_stepping_while_playing(trace_path: Path) -> None:
    app = PlayerApp(FileSource.open(trace_path))
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await pilot.press(*["minus"] * 10)  # 1 step/s: no tick lands during the test
        await pilot.press("space", "right", "right", "right", "left")
        assert app.view.playing and app.position == 2
        await pilot.press("space")
        assert not app.view.playing


async def test_colour_mode_key(trace_path: Path) -> None:
    app = PlayerApp(FileSource.open(trace_path))
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await pilot.press("end")
        assert "commit step 1" in screen_text(app)
        await pilot.press("c")
        assert app.query_one(TokenGrid).mode is ColourMode.CONFIDENCE
        assert "confidence 0" in screen_text(app)
        await pilot.press("c")
        assert app.query_one(TokenGrid).mode is ColourMode.STEP


async def test_tab_and_shift_tab_move_the_token_cursor(trace_path: Path) -> None:
    app = PlayerApp(FileSource.open(trace_path))
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        grid = app.query_one(TokenGrid)
        await pilot.press("end", "tab")
        assert grid.cursor == 0
        await pilot.press("tab", "tab", "tab")
        assert grid.cursor == 3
        assert "“ 72”" in screen_text(app)
        assert "committed at step 1 · conf 0.99" in screen_text(app)
        await pilot.press("shift+tab")
        assert grid.cursor == 2
        await pilot.press("escape")
        assert grid.cursor is None
        await pilot.press("shift+tab")
        assert grid.cursor == len(ARITHMETIC) - 1  # wraps to the last token


async def test_masked_token_shows_candidates(trace_path: Path) -> None:
    app = PlayerApp(FileSource.open(trace_path))
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await pilot.press("right", "tab", "tab")  # position 1, " answer", still masked after step 1
        text = screen_text(app)
        assert "masked" in text
        assert "candidates at step 2" in text
        assert "“ answer”" in text  # the model's top candidate
        assert "top guess p " in text


async def test_click_on_a_token_moves_the_cursor(trace_path: Path) -> None:
    app = PlayerApp(FileSource.open(trace_path))
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await pilot.press("end")
        grid = app.query_one(TokenGrid)
        part = next(p for p in grid.grid_layout.line_parts(0) if p.pos == 1)  # " answer"
        await pilot.click(TokenGrid, offset=(grid.styles.padding.left + part.x + 2, 0))
        assert grid.cursor == 1
        assert "“ answer”" in screen_text(app)


async def test_click_on_the_timeline_seeks(trace_path: Path) -> None:
    app = PlayerApp(FileSource.open(trace_path))
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        timeline = app.query_one(Timeline)
        width = timeline.content_region.width
        await pilot.click(Timeline, offset=(timeline.styles.padding.left + width // 2, 0))
        assert app.position == STEPS // 2
        await pilot.click(Timeline, offset=(timeline.styles.padding.left + width - 1, 0))
        assert app.position == STEPS


async def test_find_jumps_to_the_first_step_the_text_is_visible(trace_path: Path) -> None:
    app = PlayerApp(FileSource.open(trace_path))
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await pilot.press("end", "slash")
        assert app.focused.id == "find"
        await pilot.press("7", "2", "enter")
        assert app.position == 1  # " 72" at position 3 is committed by the first step
        assert app.query_one(TokenGrid).cursor == 3
        assert app.focused is app.query_one(TokenGrid)
        seen = [(app.position, app.query_one(TokenGrid).cursor)]
        for _ in range(2):
            await pilot.press("n")
            seen.append((app.position, app.query_one(TokenGrid).cursor))
        assert sorted(p for _, p in seen) == [3, 17, 24]  # every " 72" of the answer
        assert [t for t, _ in seen] == sorted(t for t, _ in seen)
        await pilot.press("n")
        assert (app.position, app.query_one(TokenGrid).cursor) == seen[0]  # wraps
        await pilot.press("N")
        assert (app.position, app.query_one(TokenGrid).cursor) == seen[-1]


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_the_find_bar_opens_between_the_answer_and_the_timeline(trace_path: Path, size) -> None:  # noqa: ANN001
    app = PlayerApp(FileSource.open(trace_path))
    async with app.run_test(size=size) as pilot:
        await started(app, pilot)
        await pilot.press("slash")
        await pilot.pause()
        bar, timeline = app.query_one("#find").region, app.query_one(Timeline).region
        assert bar.height > 0 and bar.bottom == timeline.y  # right above it, nothing covered, no gap


async def test_find_text_spanning_tokens_and_not_found(trace_path: Path) -> None:
    app = PlayerApp(FileSource.open(trace_path))
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await pilot.press("slash", *"48 + 24 =", "enter")
        grid = app.query_one(TokenGrid)
        assert grid.cursor == 13
        assert all(app.recording.token_at(p, app.position) != 9 for p in range(13, 17))
        assert any(app.recording.token_at(p, app.position - 1) == 9 for p in range(13, 17))
        before = app.position
        await pilot.press("slash", *"ninety", "enter")
        assert app.position == before
        await pilot.press("slash", "escape")
        assert not app.query_one("#find").display
        assert app.focused is grid


def help_text(app: PlayerApp) -> str:
    """Everything on the help screen, scrolled or not, as plain text."""
    console = Console(width=300, file=io.StringIO(), record=True)
    for static in app.screen.query(Static):
        console.print(static.content)
    return console.export_text()


async def test_help_screen_lists_every_key_and_explains_the_marks(trace_path: Path) -> None:
    app = PlayerApp(FileSource.open(trace_path))
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        assert "Step back" in screen_text(app)
        text = help_text(app)
        for binding in [*PlayerApp.BINDINGS, *TokenGrid.BINDINGS]:
            assert (binding.tooltip or binding.description) in text
        for mark in ("⋄", "···", "↵", "⍰", "block", "conf", "candidates", "top guess p", "committed/step", "temp"):
            assert mark in text, mark
        assert "ctrl+p" in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("question_mark", "q")  # q closes help, does not quit
        assert not isinstance(app.screen, HelpScreen)
        assert app.is_running


async def test_q_quits(trace_path: Path) -> None:
    app = PlayerApp(FileSource.open(trace_path))
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running


async def test_resize_to_80x24_keeps_working(trace_path: Path) -> None:
    app = PlayerApp(FileSource.open(trace_path))
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await pilot.press("end")
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        grid = app.query_one(TokenGrid)
        width = grid.scrollable_content_region.width
        assert grid.grid_layout.width == width
        lines = grid_text(app).splitlines()
        assert lines[0].startswith("The answer")
        assert all(len(line) <= width for line in lines)
        assert "q Quit" in screen_text(app)


async def test_remasked_tokens_play_back(tmp_path: Path) -> None:
    from synthetic_traces import remasking_trace

    app = PlayerApp(FileSource.open(remasking_trace(tmp_path / "remask.trace")))
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await pilot.press("right")
        assert " the" in grid_text(app).splitlines()[0]  # position 1 first committed as " the"
        await pilot.press("right", "right")
        first_line = grid_text(app).splitlines()[0]
        assert first_line.startswith("The answer") and "72" in first_line
        await pilot.press("right")  # step 4 masks " 72" again
        assert "72" not in grid_text(app).splitlines()[0]
        await pilot.press("tab", "tab", "tab", "tab")
        assert "re-masked at step 4" in screen_text(app)
        await pilot.press("right")
        assert "72" in grid_text(app).splitlines()[0]
        assert "changes" in screen_text(app)


async def test_cut_short_trace_plays_what_is_there_and_says_so(tmp_path: Path) -> None:
    path = write_trace(tmp_path / "cut.trace", ending="none", stop_after=7)
    app = PlayerApp(FileSource.open(path))
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await pilot.press("end")
        assert app.position == 7
        assert "cut short after step 7 of 16" in screen_text(app)


async def test_damaged_tail_plays_what_is_there(tmp_path: Path) -> None:
    path = write_trace(tmp_path / "damaged.trace")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] + b"\xc1" * 64)  # 0xc1 is never valid msgpack
    app = PlayerApp(FileSource.open(path))
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await pilot.press("end")
        assert 0 < app.position < STEPS
        assert "damaged after step" in screen_text(app)


def test_bad_files_raise_trace_error_for_the_cli_to_report(tmp_path: Path) -> None:
    # run_player prints nothing itself: the CLI reports TraceError as for info and export.
    not_a_trace = tmp_path / "notes.txt"
    not_a_trace.write_text("hello, I am not a trace\n")
    empty = tmp_path / "empty.trace"
    empty.write_bytes(b"")
    cases = {
        tmp_path / "missing.trace": "no such file",
        not_a_trace: "not a llada-tui trace",
        empty: "empty file",
        tmp_path: "is a directory",
    }
    for path, reason in cases.items():
        with pytest.raises(TraceError, match=reason):
            run_player(str(path))
    for path in (not_a_trace, tmp_path):  # a missing file is waited for when following
        with pytest.raises(TraceError):
            run_player(str(path), follow=True)


def test_play_errors_end_in_one_line_and_exit_status_1(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "llada_tui.cli", "play", str(tmp_path / "[a=b=c].trace")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("llada-tui: error: ") and "no such file" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


async def test_follow_mode_shows_steps_as_they_land(tmp_path: Path) -> None:
    path = tmp_path / "growing.trace"  # the writer has not started yet: no file
    app = PlayerApp(FollowSource.open(path, interval=0.01))

    async def until(condition, what: str) -> None:
        for _ in range(300):
            await pilot.pause(0.01)
            if condition():
                return
        raise AssertionError(f"timed out waiting for {what}")

    # the test lets the writer go on, one record at a time
    with GatedTrace(path, ARITHMETIC, STEPS, 8, gate_header=True) as growing:
        async with app.run_test(size=SIZE) as pilot:
            await until(lambda: "waiting for" in screen_text(app), "the waiting message")
            growing.release()  # header
            await until(lambda: app.recording.ready, "the header")
            growing.release(5)
            await until(lambda: app.recording.length == 5, "five steps")
            assert app.position == 5  # at the live edge, it stays at the edge
            assert "● following" in screen_text(app) and "paused" not in screen_text(app)
            await pilot.press("left", "left")
            growing.release()
            await until(lambda: app.recording.length == 6, "a sixth step")
            assert app.position == 3  # behind the edge, it stays where the user put it
            assert "behind live: End to catch up" in screen_text(app) and "paused" in screen_text(app)
            await pilot.press("end")
            growing.release(len(growing.steps) - 6)
            await until(lambda: app.recording.length == STEPS, "all steps")
            assert app.position == STEPS
            assert not app.recording.ended
            growing.release()  # the end record
            await until(lambda: app.recording.ended, "the end")
            assert "ended" in screen_text(app)
            assert "following" not in screen_text(app)
            assert grid_text(app).startswith("The answer is 72.")


async def test_hostile_token_texts_never_reach_the_terminal(tmp_path: Path) -> None:
    app = PlayerApp(FileSource.open(hostile_trace(tmp_path / "hostile.trace")))
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        outputs = []
        for keys in (["end"], ["tab", "tab"], ["question_mark"]):
            await pilot.press(*keys)
            console = Console(force_terminal=True, color_system="truecolor", width=SIZE[0])
            strips = app.screen._compositor.render_strips()
            outputs.append("\n".join(strip.render(console) for strip in strips))  # what a terminal receives
        await pilot.press("escape")
        assert "␛[31m" in grid_text(app) and "⇄gnirts" in grid_text(app)
    for output in outputs:
        no_styles = re.sub(r"\x1b\[[0-9;]*m", "", output)  # the only escapes allowed: colours
        assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200b]", no_styles)


def test_player_never_imports_torch_or_transformers(trace_path: Path) -> None:
    script = f"""
import asyncio, sys
from llada_tui.tui.app import PlayerApp
from llada_tui.tui.sources.file import FileSource

async def main():
    app = PlayerApp(FileSource.open({str(trace_path)!r}))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("end", "tab", "c", "slash", "7", "2", "enter", "question_mark")
        await pilot.pause()

asyncio.run(main())
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers"))
print("HEAVY", heavy)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout


def test_startup_is_quick(trace_path: Path) -> None:
    started_at = time.perf_counter()
    source = FileSource.open(trace_path)

    async def first_frame() -> None:
        app = PlayerApp(source)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()

    asyncio.run(first_frame())
    assert time.perf_counter() - started_at < 5  # generous: a loaded CI box; the real number is in the report


def test_unknown_header_keys_do_not_matter(tmp_path: Path) -> None:
    # Any valid trace plays: a header without optional keys (model, eos_id, topk) is fine.
    path = tmp_path / "bare.trace"
    vocabulary = Vocabulary()
    header = header_for(vocabulary, 8, 4, 8, k=0)
    bare = Header(
        prompt_text="", prompt_ids=[], model={}, params={k: header.params[k] for k in ("steps", "gen_length",
        "block_length", "temperature", "cfg_scale", "remasking", "mask_id")},
    )  # fmt: skip
    writer = TraceWriter(path, bare, vocabulary.text_of)
    for step in llada_steps(["a", "b", "c", "d", "e", "f", "g", "h"], vocabulary, 4, 8, k=0):
        writer.write_step(step)
    writer.close()

    async def play() -> None:
        app = PlayerApp(FileSource.open(path))
        async with app.run_test(size=SIZE) as pilot:
            await started(app, pilot)
            await pilot.press("end", "tab")
            assert grid_text(app).startswith("abcdefgh")
            assert "unknown model" in screen_text(app)

    asyncio.run(play())


async def test_follow_mode_exits_with_one_line_when_garbage_arrives(tmp_path: Path) -> None:
    path = tmp_path / "garbage.trace"
    path.write_bytes(b"")
    app = PlayerApp(FollowSource.open(path, interval=0.01))
    said = []
    exit_app = app.exit
    app.exit = lambda *args, **kwargs: (said.append(kwargs.get("message")), exit_app(*args, **kwargs))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.05)
        path.write_bytes(b"\x93\x01\x02\x03 definitely not a trace")
        for _ in range(200):
            await pilot.pause(0.01)
            if not app.is_running:
                break
    assert app.return_code == 1
    assert isinstance(said[0], Text) and said[0].plain.startswith("llada-tui: error: ")  # Text: never markup


async def test_follow_mode_says_when_the_writer_has_gone_quiet(tmp_path: Path) -> None:
    path = tmp_path / "abandoned.trace"
    vocabulary = Vocabulary()
    header = header_for(vocabulary, len(ARITHMETIC), STEPS, 8)
    writer = TraceWriter(path, header, vocabulary.text_of)
    for step in list(llada_steps(ARITHMETIC, vocabulary, STEPS, 8))[:3]:
        writer.write_step(step)  # ...and then the writer dies without an end record
    now = [0.0]  # the source's clock, moved by the test alone: a slow machine cannot make it "quiet"
    app = PlayerApp(FollowSource.open(path, interval=0.01, quiet_after=10, clock=lambda: now[0]))
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(300):
            await pilot.pause(0.01)
            if app.recording.length == 3:
                break
        now[0] = 9.5
        await pilot.pause(0.1)
        assert app.recording.length == 3 and "no new step" not in screen_text(app)
        now[0] = 12.0
        for _ in range(300):
            await pilot.pause(0.01)
            if "no new step for" in screen_text(app):
                break
        assert "● following" in screen_text(app) and "no new step for 12 s" in screen_text(app)
        writer.write_step(list(llada_steps(ARITHMETIC, vocabulary, STEPS, 8))[3])  # it was only slow
        for _ in range(300):
            await pilot.pause(0.01)
            if app.recording.length == 4:
                break
        await pilot.pause(0.05)
        assert app.recording.length == 4 and "no new step" not in screen_text(app)
    writer.close()


# ---------------------------------------------------------------------- an answer longer than the grid


def long_answer_trace(path: Path) -> Path:
    """gen_length 512, 64 steps, blocks of 64: at 80x24 the answer is several screens long."""
    words = [" " + word for word in "the quick brown fox jumps over a lazy dog while it rains".split()]
    answer = [words[i % len(words)] for i in range(512)]
    return write_trace(path, answer, steps=64, block_length=64, sure=())


LONG_KEYS = [  # from step 32, where the answer is longer than the grid in either layout
    (["end"], 64),
    (["G"], 64),
    (["home"], 0),
    (["pagedown"], 42),
    (["pageup"], 22),
    (["right"], 33),
    (["j"], 33),
    (["k"], 31),
    (["right_square_bracket"], 40),
]


@pytest.mark.parametrize("layout_keys", [[], ["w"]], ids=["plain", "future-width"])
async def test_step_keys_reach_the_player_when_the_grid_scrolls(tmp_path: Path, layout_keys: list[str]) -> None:
    app = PlayerApp(FileSource.open(long_answer_trace(tmp_path / "long.trace")))
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        await pilot.press(*layout_keys)
        grid = app.query_one(TokenGrid)
        for keys, expected in LONG_KEYS:
            app.position = 32
            await pilot.pause()
            assert grid.max_scroll_y > 0 and app.focused is grid  # the grid does scroll
            await pilot.press(*keys)
            assert app.position == expected, keys
        await pilot.press("end")
        assert "step 64/64" in screen_text(app)


async def test_the_grid_scrolls_with_its_own_keys(tmp_path: Path) -> None:
    app = PlayerApp(FileSource.open(long_answer_trace(tmp_path / "long.trace")))
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        grid = app.query_one(TokenGrid)
        await pilot.press("end", "down", "down")
        assert grid.scroll_y == 2 and app.position == 64
        await pilot.press("up")
        assert grid.scroll_y == 1
        await pilot.press("shift+down")
        assert grid.scroll_y == 1 + grid.scrollable_content_region.height
        await pilot.press("shift+up")
        assert grid.scroll_y == 1
        assert app.position == 64  # scrolling never moves the timeline


async def test_j_and_k_step_like_the_arrows(trace_path: Path) -> None:
    app = PlayerApp(FileSource.open(trace_path))
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await pilot.press("j", "j", "j", "k")
        assert app.position == 2


async def test_ctrl_c_quits(trace_path: Path) -> None:
    app = PlayerApp(FileSource.open(trace_path))
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await pilot.press("slash")  # even from the find bar
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert not app.is_running


async def test_the_mouse_wheel_steps_on_the_timeline(trace_path: Path) -> None:
    app = PlayerApp(FileSource.open(trace_path))
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        timeline = app.query_one(Timeline)
        for _ in range(3):
            timeline.post_message(MouseScrollDown(timeline, 5, 0, 0, 0, 0, False, False, False))
        await pilot.pause()
        assert app.position == 3
        timeline.post_message(MouseScrollUp(timeline, 5, 0, 0, 0, 0, False, False, False))
        await pilot.pause()
        assert app.position == 2


@pytest.mark.parametrize(
    ("typed", "check"),
    [
        ("step 12", lambda app: app.position == 12),
        ("40%", lambda app: app.position == round(STEPS * 0.4)),
        ("colour", lambda app: app.query_one(TokenGrid).mode is ColourMode.CONFIDENCE),
        ("find", lambda app: app.focused.id == "find"),
        ("help", lambda app: isinstance(app.screen, HelpScreen)),
        ("last step", lambda app: app.position == STEPS),
    ],
)
async def test_command_palette_has_the_players_commands(trace_path: Path, typed: str, check) -> None:
    app = PlayerApp(FileSource.open(trace_path))
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*typed)
        for _ in range(50):  # the palette searches in a worker
            await pilot.pause(0.02)
            if app.screen.query("CommandList Option"):
                break
        await pilot.press("enter")
        for _ in range(50):
            await pilot.pause(0.02)
            if check(app):
                break
        assert check(app), typed


# ---------------------------------------------------------------------- run info: the whole prompt


def custom_trace(
    path: Path, prompt: str = "What is 48 + 24?", end: End | None = None, model: dict | None = None
) -> Path:
    """The arithmetic trace with a prompt, an end record and a model description of the test's choosing."""
    vocabulary = Vocabulary()
    header = header_for(vocabulary, len(ARITHMETIC), STEPS, 8, prompt=prompt)
    if model is not None:
        header = dataclasses.replace(header, model=model)
    writer = TraceWriter(path, header, vocabulary.text_of)
    for step in llada_steps(ARITHMETIC, vocabulary, STEPS, 8, sure=(3,)):
        writer.write_step(step)
    writer.close(end or End("complete", [vocabulary.id_of(t) for t in ARITHMETIC], "", 1.0))
    return path


LONG_PROMPT = "Write a haiku about " + " ".join(f"word{i}" for i in range(60)) + " and end with THE-LAST-WORD"


async def test_the_whole_prompt_can_be_read_in_run_info(tmp_path: Path) -> None:
    app = PlayerApp(FileSource.open(custom_trace(tmp_path / "long-prompt.trace", prompt=LONG_PROMPT)))
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        assert "THE-LAST-WORD" not in screen_text(app)  # the header cuts it
        await pilot.press("i")
        assert "THE-LAST-WORD" in screen_text(app) and "word30" in screen_text(app)
        assert "temperature" in screen_text(app)
        await pilot.press("escape")
        assert "THE-LAST-WORD" not in screen_text(app)
        await pilot.click("#header")
        await pilot.pause()
        assert "THE-LAST-WORD" in screen_text(app)
