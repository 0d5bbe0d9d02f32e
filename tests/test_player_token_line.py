"""The token line: where the side panels are hidden (a narrow play, compare at 80x24), the picked
token is described under the grid (its text, the step that committed it, its confidence, what
its step's alternatives or the guesses at the next step); Escape clears it. With the panels shown,
the Token panel says it and the line stays hidden."""

from __future__ import annotations

from pathlib import Path

from rich.style import Style
from synthetic_traces import hostile_trace, remasking_trace, write_trace
from test_player import started

from llada_tui.core.run_index import RunIndex
from llada_tui.core.trace_reader import load_trace
from llada_tui.tui.app import PlayerApp
from llada_tui.tui.sources.file import FileSource
from llada_tui.tui.widgets.token_line import TokenLine, describe

NARROW_PLAY = (60, 20)


def index_of(path: Path) -> RunIndex:
    return RunIndex.of_trace(load_trace(path))


def shown(app: PlayerApp) -> str | None:
    """The token line's text as drawn, or None while it is hidden."""
    line = app.query_one(TokenLine)
    if not line.display:
        return None
    return app.screen._compositor.render_strips()[line.region.y].text.strip()


async def test_a_narrow_play_hides_the_panels_and_describes_the_picked_token(tmp_path: Path) -> None:
    path = write_trace(tmp_path / "run.trace")
    index = index_of(path)
    app = PlayerApp(FileSource.open(path))
    async with app.run_test(size=NARROW_PLAY) as pilot:
        await started(app, pilot)
        await pilot.press("end")
        assert not app.query_one("#side").display
        assert shown(app) is None  # nothing picked: no line
        await pilot.press("tab")
        _, step, confidence = index.cell_at(0, index.length)
        token_id = index.token_at(0, index.length)
        others = [(i, p) for i, p in index.candidates(0, step) if i != token_id]  # its forward's other guesses
        assert index.text(token_id) == "The" and len(others) == 2
        assert shown(app).startswith(f"“The” committed at step {step + 1} · conf {confidence:.2f} · alternatives “")
        alternatives = " ".join(f"“{index.text(i)}” {p:.2f}" for i, p in others)
        committed = f"“The” committed at step {step + 1} · conf {confidence:.2f}"
        assert describe(index, index.length, 0, 200, Style()).plain == (
            f"{committed} · alternatives {alternatives} · pos 0 · block 1"
        )
        await pilot.press("escape")
        assert shown(app) is None


async def test_a_masked_token_shows_the_next_steps_guesses(tmp_path: Path) -> None:
    path = write_trace(tmp_path / "run.trace")
    index = index_of(path)
    app = PlayerApp(FileSource.open(path))
    async with app.run_test(size=NARROW_PLAY) as pilot:
        await started(app, pilot)
        await pilot.press("5", *["shift+tab"] * 3)  # step 8 of 16; position 29, in the second block
        assert app.position == 8 and app.grid.cursor == 29 and index.is_mask(index.token_at(29, 8))
        (top, p), *_ = index.candidates(29, 8)
        assert shown(app).startswith(f"masked · guesses at step 9 “{index.text(top)[:5]}") and f" {p:.2f} “" in shown(
            app
        )
        guesses = " ".join(f"“{index.text(i)}” {p:.2f}" for i, p in index.candidates(29, 8))  # all, given room
        assert describe(index, 8, 29, 200, Style()).plain == f"masked · guesses at step 9 {guesses} · pos 29 · block 4"


async def test_with_the_panels_shown_the_line_stays_hidden(tmp_path: Path) -> None:
    app = PlayerApp(FileSource.open(write_trace(tmp_path / "run.trace")))
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        await pilot.press("end", "tab")
        assert app.query_one("#side").display and app.grid.cursor == 0
        assert shown(app) is None


def test_revised_and_re_masked_tokens_are_said_so(tmp_path: Path) -> None:
    index = index_of(remasking_trace(tmp_path / "run.trace"))
    dim = Style(dim=True)
    assert " revised at step 3 · " in describe(index, 3, 1, 80, dim).plain  # ' the' became ' answer'
    assert describe(index, 4, 3, 80, dim).plain.startswith("masked (re-masked at step 4)")
    at_end = describe(index, index.length, 3, 80, dim).plain
    assert at_end.startswith("“ 72” committed at step 5 · ") and at_end.endswith(" · pos 3 · block 1")


def test_a_position_masked_at_the_end_has_no_step_left(tmp_path: Path) -> None:
    index = index_of(write_trace(tmp_path / "run.trace", stop_after=4))
    line = describe(index, index.length, 31, 80, Style()).plain
    assert line == "masked · no step left to predict it · pos 31 · block 4"


async def test_the_help_says_where_a_picked_token_is_described(tmp_path: Path) -> None:
    app = PlayerApp(FileSource.open(write_trace(tmp_path / "run.trace")))
    async with app.run_test(size=(120, 40)) as pilot:
        await started(app, pilot)
        await pilot.press("question_mark")
        text = " ".join(strip.text.strip(" │") for strip in app.screen._compositor.render_strips())
        assert (
            "the Token panel describes it, or where the panels are hidden (narrow), a line under the answer"
            in " ".join(text.split())
        )


def test_hostile_token_texts_reach_the_line_inert(tmp_path: Path) -> None:
    index = index_of(hostile_trace(tmp_path / "hostile.trace"))
    for pos in range(index.gen_length):
        for t in (0, index.length // 2, index.length):
            line = describe(index, t, pos, 200, Style()).plain
            assert not any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 or c in "\u202e\u2066" for c in line), (pos, t, line)
