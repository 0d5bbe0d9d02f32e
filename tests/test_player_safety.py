"""Hostile trace contents and sizes: nothing reaches the terminal as a control, nothing is parsed
as markup, nothing crashes, and a trace at the reader's limits stays quick to show."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from rich.cells import cell_len, get_character_cell_size
from synthetic_traces import write_trace
from test_player import SIZE, custom_trace, grid_text, screen_text, started
from test_player_display import terminal_output

from llada_tui.core.records import End
from llada_tui.tui import layout
from llada_tui.tui.app import PlayerApp
from llada_tui.tui.layout import MAX_SHAPE_CELLS, GridLayout
from llada_tui.tui.sources.file import FileSource
from llada_tui.tui.sources.follow import FollowSource
from llada_tui.tui.widgets.grid import TokenGrid

OSC52 = "\x1b]52;c;ZWNobyBwd25lZA==\x07"  # write to the clipboard
TITLE = "\x1b]0;pwned\x07"  # retitle the terminal
HOSTILE_TEXTS = [OSC52, TITLE, "\x9b2J", "\x9d0;x\x9c", "\u202eevil\u202c", "[/]", "[bold]loud", "[link=x]y[/link]"]
HOSTILE = "".join(HOSTILE_TEXTS)
# Whatever is left once the colour codes the player itself emits are taken out must be plain text.
OWN_STYLES = re.compile(r"\x1b\[[0-9;]*m")
RAW_CONTROLS = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200b-\u200f]")


def assert_inert(output: str) -> None:
    plain = OWN_STYLES.sub("", output)
    assert not RAW_CONTROLS.search(plain), repr(RAW_CONTROLS.search(plain))
    assert "]52;" not in plain or "␛]52;" in plain  # an OSC shows as its marks, never as itself


async def test_hostile_prompt_model_and_end_record_stay_inert(tmp_path: Path) -> None:
    end = End("interrupted" + TITLE, [], "stopped: " + HOSTILE, 1.0)
    path = custom_trace(tmp_path / "hostile.trace", prompt=HOSTILE, end=end, model={"name": HOSTILE, "dtype": TITLE})
    app = PlayerApp(FileSource.open(path))
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await pilot.pause()
        outputs = [terminal_output(app)]  # header, and the notice of how the run ended
        assert "stopped: ␛]52;c;" in screen_text(app)  # the notice, shown as text
        assert "[bold]loud" in screen_text(app)  # markup shown as typed, not applied
        await pilot.press("i")  # the whole prompt, model, end record
        outputs.append(terminal_output(app))
        assert "[/]" in screen_text(app) and "⇄evil⇄" in screen_text(app)
        await pilot.press("escape", "end", "tab")
        outputs.append(terminal_output(app))
        await pilot.press("slash", *"[/]", "enter")  # a query that is markup, in a notice
        outputs.append(terminal_output(app))
        assert "“[/]” never appears" in screen_text(app)
    for output in outputs:
        assert_inert(output)


async def test_a_status_line_with_markup_in_a_file_name(tmp_path: Path) -> None:
    # following a file that does not exist yet: the status line names it
    path = tmp_path / f"[a=b=c]{TITLE}.trace"
    app = PlayerApp(FollowSource.open(path, interval=0.01))
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(100):
            await pilot.pause(0.01)
            if "[a=b=c]" in screen_text(app):
                break
        assert "[a=b=c]␛]0;pwned␇" in screen_text(app)  # the status line wraps the long path
        assert_inert(terminal_output(app))


async def test_hostile_notices_from_elsewhere_stay_inert(tmp_path: Path) -> None:
    # live mode and Textual call notify too, some with markup=True: never parsed, always inert
    app = PlayerApp(FileSource.open(custom_trace(tmp_path / "run.trace")))
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        app.notify("[bold]loud[/] " + HOSTILE, title=TITLE)  # markup=True, Textual's default
        await pilot.pause()
        assert "␛]0;pwned␇: [bold]loud[/] ␛]52;c;" in screen_text(app)
        assert_inert(terminal_output(app))
        app.notify(HOSTILE, markup=False, severity="warning")
        await pilot.pause()
        assert_inert(terminal_output(app))


# ---------------------------------------------------------------------- sizes: bounded work


def characters_measured(monkeypatch, shapes: list[tuple[str, ...]], width: int) -> int:
    """How many characters the layout looks at (cell widths asked) to lay out these shapes."""
    seen = [0]

    def counted_cell_len(text: str) -> int:
        seen[0] += len(text)
        return cell_len(text)

    def counted_cell_size(char: str) -> int:
        seen[0] += 1
        return get_character_cell_size(char)

    monkeypatch.setattr(layout, "cell_len", counted_cell_len)
    monkeypatch.setattr(layout, "get_character_cell_size", counted_cell_size)
    GridLayout(shapes, [True] * len(shapes), width)
    monkeypatch.undo()
    return seen[0]


def test_the_layout_is_linear_in_the_length_of_a_token(monkeypatch) -> None:
    # a token longer than a line is split over lines in one pass (it was quadratic: 66 s for 10^6 characters)
    n = 5000
    one = characters_measured(monkeypatch, [("a" * n,)], 80)
    four = characters_measured(monkeypatch, [("a" * 4 * n,)], 80)
    assert 0 < one <= 5 * n
    assert four <= 4.5 * one  # linear: 4x; quadratic would be 16x
    wide = characters_measured(monkeypatch, [("中" * n,), (" b" * n,)], 80)
    assert wide <= 5 * 3 * n


def test_a_grid_of_long_tokens_stays_small(tmp_path: Path) -> None:
    # every position holds the same 1024-character token: each takes a bounded room in the grid
    long_text = "x" * 1024
    answer = [long_text] * 64
    path = write_trace(tmp_path / "long-texts.trace", answer, steps=8, block_length=64, sure=())

    async def play() -> None:
        app = PlayerApp(FileSource.open(path))
        async with app.run_test(size=SIZE) as pilot:
            await started(app, pilot)
            await pilot.press("end", "tab")
            grid = app.query_one(TokenGrid)
            width = grid.scrollable_content_region.width
            assert grid.grid_layout.height <= len(answer) * (MAX_SHAPE_CELLS // width + 2)
            assert all(sum(grid.grid_layout.part_widths(pos)) <= MAX_SHAPE_CELLS for pos in range(len(answer)))
            assert "x…" in grid_text(app)  # cut, and says so
            assert "“xxxxxxxxxxxxxxxxxxxxxx" in screen_text(app)  # the Token panel shows more of it

    asyncio.run(play())
