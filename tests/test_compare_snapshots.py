"""Snapshots of compare at its end, both answers on screen (pytest-textual-snapshot; update with
--snapshot-update): stacked at 120x40 with the side panels, and at 80x24 without them (a picked
token then described under its grid)."""

from __future__ import annotations

from pathlib import Path

import pytest
from synthetic_traces import ARITHMETIC, write_trace
from textual.pilot import Pilot
from waiting import wait_for

from llada_tui.tui.compare import CompareApp
from llada_tui.tui.sources.file import FileSource

REWORDED = [*ARITHMETIC[:22], " total", *ARITHMETIC[23:]]  # " sum" -> " total"


@pytest.fixture
def app(tmp_path: Path) -> CompareApp:
    a = write_trace(tmp_path / "a.trace")
    b = write_trace(tmp_path / "b.trace", REWORDED, steps=8)
    return CompareApp(FileSource.open(a), FileSource.open(b), names=("a.trace", "b.trace"))


async def loaded(pilot: Pilot) -> None:
    app = pilot.app
    await wait_for(lambda: all(view.recording.ended for view in app.views) and app.differing is not None)
    await pilot.pause()


@pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])
def test_compare_at_the_end(app: CompareApp, size: tuple[int, int], snap_compare) -> None:
    assert snap_compare(app, press=["end"], terminal_size=size, run_before=loaded)


def test_compare_by_fraction_with_the_order_overlay(app: CompareApp, snap_compare) -> None:
    assert snap_compare(app, press=["f", "5", "o"], terminal_size=(120, 40), run_before=loaded)


def test_a_picked_token_without_the_panels_80x24(app: CompareApp, snap_compare) -> None:
    # B's " total" (position 22), where A has " sum": the line under B's grid says what it is
    assert snap_compare(app, press=["end", "v", *["tab"] * 23], terminal_size=(80, 24), run_before=loaded)
