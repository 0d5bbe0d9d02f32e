"""The player with issue 13's samplers: a format-2 run's header, revision marks in the grid, the
legend, the timeline, the panels, info and help; and a reference trace as it was."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest
from rich.console import Console
from rich.style import Style
from synthetic_traces import remasking_trace, revising_trace, write_trace
from textual.pilot import Pilot

from llada_tui.cli import reading
from llada_tui.core.run_index import RunIndex
from llada_tui.core.trace_reader import load_trace
from llada_tui.tui.app import PlayerApp
from llada_tui.tui.help import REVISING_MARKS, HelpScreen, sampler_rows
from llada_tui.tui.info import info_table
from llada_tui.tui.palette import ColourMode, legend
from llada_tui.tui.sources.file import FileSource
from llada_tui.tui.widgets.grid import TokenGrid
from llada_tui.tui.widgets.run_header import approximate_mark, describe_run, steps_shown
from llada_tui.tui.widgets.step_panel import StepPanel
from llada_tui.tui.widgets.timeline import REVISION_MARK, Timeline
from llada_tui.tui.widgets.token_panel import TokenPanel

SIZE = (120, 40)


def index_of(path: Path) -> RunIndex:
    return RunIndex.of_trace(load_trace(path))


async def started(app: PlayerApp, pilot: Pilot) -> None:
    for _ in range(100):
        await pilot.pause()
        if app.recording.ended:
            return
    raise AssertionError("the source never delivered the end")


def cell_style(app: PlayerApp, pos: int) -> Style:
    """The style a position's (first) cell is drawn in now."""
    grid = app.query_one(TokenGrid)
    part = grid.grid_layout.parts(pos)[0]
    parts = list(grid.grid_layout.line_parts(part.line))
    strip = grid.render_line(part.line - round(grid.scroll_y))
    return list(strip)[[p.pos for p in parts].index(pos)].style


def screen_text(app: PlayerApp) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def rows_of(panel) -> list[str]:  # noqa: ANN001
    return [row.plain for row in panel.rows]


def plain(renderable) -> str:  # noqa: ANN001
    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(renderable)
    return console.file.getvalue()


# ---------------------------------------------------------------------- the run header


def test_the_header_names_the_sampler_and_its_thresholds(tmp_path: Path) -> None:
    wino = describe_run(index_of(revising_trace(tmp_path / "w.trace")))
    assert "32 tokens · wino τ 0.6 / back 0.9 · blocks of 16" in wino
    assert "None" not in wino
    threshold = index_of(revising_trace(tmp_path / "t.trace", sampler="threshold", cache="dual"))
    assert "· threshold τ 0.9 ·" in describe_run(threshold)
    assert approximate_mark(threshold) == "≈ approximate (dual KV cache)"
    assert approximate_mark(index_of(revising_trace(tmp_path / "w2.trace"))) == ""


def test_the_header_shows_the_steps_once_they_are_known(tmp_path: Path) -> None:
    arriving = index_of(revising_trace(tmp_path / "w.trace", stop_after=4))
    arriving.finish(None, None)  # as while following: no end yet
    assert steps_shown(arriving, 2) == ("step 2/4", "of …")
    ended = index_of(revising_trace(tmp_path / "done.trace"))
    assert steps_shown(ended, 2) == ("step 2/6", "")
    reference = index_of(write_trace(tmp_path / "r.trace", stop_after=10, ending="none"))
    assert steps_shown(reference, 5) == ("step 5/10", "of 16")  # the reference's, as before
    assert "16 steps" in describe_run(reference) and approximate_mark(reference) == ""


async def test_a_cached_run_is_marked_approximate_on_screen(tmp_path: Path) -> None:
    app = PlayerApp(FileSource.open(revising_trace(tmp_path / "d.trace", sampler="threshold", cache="dual")))
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await pilot.press("right", "right")
        header = screen_text(app).splitlines()
        assert header[0].startswith(" ≈ approximate (dual KV cache) · synthetic")
        assert "step 2/6  block 1/2" in header[1]
        assert app.query_one(StepPanel).border_title == "Step 2 · cached forward"
        await pilot.press("home", "right")
        assert app.query_one(StepPanel).border_title == "Step 1 · full forward"


# ---------------------------------------------------------------------- the grid and the legend


async def test_revised_and_remasked_cells_carry_their_marks(tmp_path: Path) -> None:
    app = PlayerApp(FileSource.open(revising_trace(tmp_path / "w.trace")))
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await pilot.press("right", "right", "right")  # step 2 applied: step 1's revision is not the current step
        revised, remasked, plain_cell = cell_style(app, 1), cell_style(app, 4), cell_style(app, 2)
        assert revised.italic and revised.underline
        assert not plain_cell.italic and not plain_cell.underline
        assert remasked.bold and remasked.color.number == 5  # ansi_magenta
        masked = cell_style(app, 20)  # never committed: the plain masked look
        assert not masked.bold and masked.color.number != 5
        await pilot.press("right")  # step 3 commits position 4 again
        await pilot.press("right")
        again = cell_style(app, 4)
        assert again.italic and again.underline and again.bgcolor is not None
        await pilot.press("home")
        assert not cell_style(app, 1).italic  # at the start nothing was revised yet


async def test_a_reference_trace_with_remasks_looks_as_before(tmp_path: Path) -> None:
    app = PlayerApp(FileSource.open(remasking_trace(tmp_path / "r.trace")))
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await pilot.press(*["right"] * 6)
        assert not cell_style(app, 1).italic and not cell_style(app, 3).italic
        assert app.query_one(Timeline).changed_mind == []


def test_the_legend_explains_the_revision_marks_for_a_revising_run() -> None:
    before = legend(ColourMode.STEP, 16, False, 16)
    assert all(look not in ("revised", "remasked") for _, look in before)
    wide = legend(ColourMode.STEP, 16, False, 8, revisions=True)
    pieces = {text: look for text, look in wide}
    assert pieces["revised"] == "revised" and pieces["··· re-masked"] == "remasked"
    assert "this step" in pieces and wide[0][0] == "step 1 "  # the short label makes room
    narrow = legend(ColourMode.STEP, 16, True, 4, compact=True, revisions=True)
    texts = [text for text, _ in narrow]
    assert "this step" not in texts and ("revised", "revised-mono") in narrow


# ---------------------------------------------------------------------- timeline and panels


async def test_the_timeline_marks_the_steps_that_changed_a_token(tmp_path: Path) -> None:
    app = PlayerApp(FileSource.open(revising_trace(tmp_path / "w.trace")))
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        timeline = app.query_one(Timeline)
        assert timeline.changed_mind == [2]  # step 1 (0-based) revised and re-masked: shown from position 2
        assert timeline.boundaries == [0, 4]  # blocks of four and two steps
        await pilot.press("end")
        track = plain(timeline.render()).splitlines()[0]
        width = timeline.content_region.width
        assert track[round(2 / 6 * (width - 1))] == REVISION_MARK
        assert track.count(REVISION_MARK) == 1


async def test_the_panels_tell_revisions_remasks_and_a_second_look(tmp_path: Path) -> None:
    app = PlayerApp(FileSource.open(revising_trace(tmp_path / "w.trace")))
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await pilot.press("right", "right")
        step_rows = rows_of(app.query_one(StepPanel))
        assert step_rows[1] == "3 new · 1 revised · 1 re-masked"
        assert app.query_one(StepPanel).border_title == "Step 2"  # no cache: no forward mark
        app.grid.set_cursor(1)
        await pilot.pause()
        rows = rows_of(app.query_one(TokenPanel))
        assert rows[0] == "“ answer”" and rows[2].startswith("revised at step 2")
        assert "candidates at step 3 (a second look)" in rows  # the model on a decoded token
        history = rows[rows.index("changes") + 1 :]
        assert [row.split()[:2] for row in history] == [["step", "1"], ["step", "2"]]
        assert "“ the”" in history[0] and "“ answer”" in history[1]
        app.grid.set_cursor(4)
        await pilot.pause()
        rows = rows_of(app.query_one(TokenPanel))
        assert rows[0] == "masked" and "re-masked at step 2" in rows and "candidates at step 3" in rows
        app.grid.set_cursor(0)
        await pilot.pause()
        assert rows_of(app.query_one(TokenPanel))[2].startswith("committed at step 1")


async def test_a_reference_step_panel_has_no_kinds_row(tmp_path: Path) -> None:
    app = PlayerApp(FileSource.open(write_trace(tmp_path / "r.trace")))
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await pilot.press("right")
        rows = rows_of(app.query_one(StepPanel))
        assert not any("new ·" in row for row in rows)
        app.grid.set_cursor(3)  # committed: the reference records no candidates for it
        await pilot.pause()
        assert not any("candidates" in row for row in rows_of(app.query_one(TokenPanel)))


# ---------------------------------------------------------------------- info and help


@pytest.mark.parametrize("kind", ["wino", "dual", "reference", "cut"])
def test_info_screen_and_the_cli_say_the_same(tmp_path: Path, kind: str, capsys: pytest.CaptureFixture) -> None:
    path = {
        "wino": lambda: revising_trace(tmp_path / "w.trace"),
        "dual": lambda: revising_trace(tmp_path / "d.trace", sampler="threshold", cache="dual"),
        "reference": lambda: write_trace(tmp_path / "r.trace"),
        "cut": lambda: revising_trace(tmp_path / "c.trace", stop_after=3),
    }[kind]()
    reading.run_info(argparse.Namespace(trace=str(path)))
    cli = dict(line.split(":", 1) for line in capsys.readouterr().out.splitlines() if line[:1] != " ")
    sampler, steps = cli["sampler"].strip(), cli["steps"].strip()
    assert (kind == "dual") == ("approximate" in sampler)
    assert ("re-masked" in steps) == (kind != "reference") and ("incomplete" in steps) == (kind == "cut")
    shown = plain(info_table(RunIndex.of_trace(load_trace(path)), Style()))
    assert f"decoding        {sampler}" in shown
    assert f"forwards        {steps}" in shown


async def test_help_explains_the_sampler_of_the_run_shown(tmp_path: Path) -> None:
    reference = index_of(write_trace(tmp_path / "r.trace")).header
    assert sampler_rows(reference) == []
    wino = index_of(revising_trace(tmp_path / "w.trace")).header
    assert all(row in sampler_rows(wino) for row in REVISING_MARKS)
    threshold = index_of(revising_trace(tmp_path / "t.trace", sampler="threshold")).header
    assert not any(row in sampler_rows(threshold) for row in REVISING_MARKS) and sampler_rows(threshold)
    app = PlayerApp(FileSource.open(tmp_path / "w.trace"))
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        assert app.screen.query_one("#help-sampler").content.title == "This run's sampler"
