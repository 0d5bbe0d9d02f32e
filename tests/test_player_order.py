"""The player's order overlay (o): tokens shaded by the rank of their final step, the answer span
and its lead-in marked, the span's complete step on the timeline; the numbers are `order`'s."""

from __future__ import annotations

from pathlib import Path

from rich.style import Style
from synthetic_traces import ARITHMETIC, GatedTrace, write_trace
from textual.pilot import Pilot
from waiting import wait_for

from llada_tui.core.answer_order import answer_order
from llada_tui.core.run_index import RunIndex
from llada_tui.core.trace_reader import load_trace
from llada_tui.tui.app import PlayerApp
from llada_tui.tui.order_overlay import OrderOverlay
from llada_tui.tui.palette import ColourMode, shade
from llada_tui.tui.sources.file import FileSource
from llada_tui.tui.sources.follow import FollowSource
from llada_tui.tui.widgets.legend_line import LegendLine
from llada_tui.tui.widgets.timeline import Timeline
from llada_tui.tui.widgets.token_panel import TokenPanel

SIZE = (120, 40)
NO_ANSWER = ["We", " add", " 48", " and", " 24", ".", "<eot>", "<eos>"]


async def loaded(app: PlayerApp, pilot: Pilot) -> None:
    await wait_for(lambda: app.recording.ended)
    await pilot.pause()


def cell_styles(app: PlayerApp) -> dict[int, Style]:
    """Each visible position's style as drawn (the grid's first part of it)."""
    grid, styles = app.grid, {}
    for line in range(grid.grid_layout.height):
        for part, segment in zip(grid.grid_layout.line_parts(line), grid.render_line(line)):
            styles.setdefault(part.pos, segment.style)
    return styles


async def test_o_shades_by_final_step_and_marks_the_span(tmp_path: Path) -> None:
    path = write_trace(tmp_path / "run.trace")
    order = answer_order(RunIndex.of_trace(load_trace(path)))
    app = PlayerApp(FileSource.open(path))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app, pilot)
        await pilot.press("end", "o")
        await pilot.pause()
        overlay = app.view.overlay
        assert app.view.mode is ColourMode.ORDER and overlay is not None
        assert overlay.order.span == order.span and overlay.complete_step == order.span.complete_step
        assert order.span.text == "72" and overlay.span == range(3, 4) and overlay.lead_in == range(0, 3)
        assert app.query_one(Timeline).answer_marks == [order.span.complete_step]
        legend = app.query_one(LegendLine).render().plain
        assert f"◆ complete at step {order.span.complete_step}" in legend and "order: first" in legend

        styles = cell_styles(app)
        assert styles[3].bold and styles[3].underline  # the span
        assert all(styles[pos].underline and not styles[pos].bold for pos in overlay.lead_in if pos not in overlay.span)
        plain = [pos for pos in range(20) if pos not in overlay.span and pos not in overlay.lead_in]
        assert not any(styles[pos].underline for pos in plain)
        # the shade is the rank of the final step among the text's tokens: first and last
        steps = {pos: step for pos, step in enumerate(order.final_steps) if ARITHMETIC[pos] not in ("<eot>", "<eos>")}
        first, last = min(steps, key=steps.get), max(steps, key=steps.get)
        assert overlay.ranks[first] == 0.0 and overlay.ranks[last] == 1.0
        assert styles[first].bgcolor == shade(ColourMode.ORDER, 0.0).bgcolor
        earlier = [pos for pos, step in steps.items() if step < 16]  # step 16's own are drawn as this step's
        assert len(earlier) > 20 and all(
            styles[pos].bgcolor == shade(ColourMode.ORDER, overlay.ranks[pos]).bgcolor for pos in earlier
        )
        distinct = sorted(set(steps.values()))  # ranks: dense, over the steps the text's tokens took
        assert all(overlay.ranks[pos] == distinct.index(step) / (len(distinct) - 1) for pos, step in steps.items())
        assert overlay.ranks[ARITHMETIC.index("<eot>")] is None  # specials take no rank

        await pilot.press("o")  # off: the colouring chosen before
        assert app.view.mode is ColourMode.STEP and app.view.overlay is None
        assert app.query_one(Timeline).answer_marks == []
        assert not cell_styles(app)[0].underline


async def test_c_leaves_the_overlay_and_o_comes_back_to_c_s_choice(tmp_path: Path) -> None:
    app = PlayerApp(FileSource.open(write_trace(tmp_path / "run.trace")))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app, pilot)
        await pilot.press("c", "o")
        assert app.view.mode is ColourMode.ORDER
        await pilot.press("o")
        assert app.view.mode is ColourMode.CONFIDENCE
        await pilot.press("o", "c")  # c from the overlay: off, back to the colouring
        assert app.view.overlay is None and app.view.mode is ColourMode.CONFIDENCE
        await pilot.press("c")
        assert app.view.mode is ColourMode.STEP


async def test_a_text_without_an_answer_span_says_so(tmp_path: Path) -> None:
    app = PlayerApp(FileSource.open(write_trace(tmp_path / "run.trace", NO_ANSWER, steps=4)))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app, pilot)
        await pilot.press("end", "o")
        assert app.view.overlay is not None and not app.view.overlay.found
        assert "no answer span" in app.query_one(LegendLine).notice
        assert app.query_one(Timeline).answer_marks == []


async def test_the_overlay_follows_a_run_as_it_grows(tmp_path: Path) -> None:
    path = tmp_path / "growing.trace"
    with GatedTrace(path, ARITHMETIC, 16, 8) as growing:
        app = PlayerApp(FollowSource.open(path, interval=0.01))
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(lambda: app.recording.ready)
            await pilot.pause()
            await pilot.press("o")
            assert app.view.overlay is not None and not app.view.overlay.found  # nothing written yet
            growing.release(16)
            await wait_for(lambda: app.recording.length == 16)
            await pilot.pause()
            expected = OrderOverlay.of(app.recording)
            assert expected.found and app.view.overlay == expected
            assert app.query_one(Timeline).answer_marks == [expected.complete_step]


def test_order_overlay_snapshot(tmp_path: Path, snap_compare) -> None:
    app = PlayerApp(FileSource.open(write_trace(tmp_path / "run.trace")))

    async def ready(pilot: Pilot) -> None:
        await loaded(app, pilot)

    assert snap_compare(app, press=["end", "o"], terminal_size=SIZE, run_before=ready)


async def test_the_token_panel_guide_says_what_the_colours_mean() -> None:
    app = PlayerApp(FileSource.open(Path(__file__).parent.parent / "sample_traces" / "lily.trace"))
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(app, pilot)
        guide = app.query_one(TokenPanel)
        seen = []
        for key in ("", "c", "o"):
            if key:
                await pilot.press(key)
            await pilot.pause()
            seen.append(next(row.plain for row in guide.rows if row.plain.startswith("colour:")))
        assert seen == ["colour: step committed", "colour: confidence", "colour: commit order"]
