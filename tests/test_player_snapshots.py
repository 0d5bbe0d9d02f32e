"""Snapshots of the player's main states (pytest-textual-snapshot; update with --snapshot-update)."""

from __future__ import annotations

from pathlib import Path

import pytest
from synthetic_traces import hostile_trace, remasking_trace, revising_trace, write_trace
from textual.pilot import Pilot

from llada_tui.tui.app import PlayerApp
from llada_tui.tui.sources.file import FileSource

SIZE = (120, 40)


async def loaded(pilot: Pilot) -> None:
    for _ in range(100):
        await pilot.pause()
        if pilot.app.recording.ended:
            return
    raise AssertionError("the source never delivered the end")


@pytest.fixture
def app(tmp_path: Path) -> PlayerApp:
    return PlayerApp(FileSource.open(write_trace(tmp_path / "run.trace")))


def test_start(app: PlayerApp, snap_compare) -> None:
    assert snap_compare(app, terminal_size=SIZE, run_before=loaded)


def test_middle_with_a_token_selected(app: PlayerApp, snap_compare) -> None:
    # step 7 of 16, cursor on " 24" (position 10), committed; then on a masked one with candidates
    assert snap_compare(app, press=["7", *["tab"] * 11], terminal_size=SIZE, run_before=loaded)


def test_middle_masked_token_candidates_80x24(app: PlayerApp, snap_compare) -> None:
    assert snap_compare(app, press=["5", *["tab"] * 21], terminal_size=(80, 24), run_before=loaded)


def test_end(app: PlayerApp, snap_compare) -> None:
    assert snap_compare(app, press=["end"], terminal_size=SIZE, run_before=loaded)


def test_help_screen(app: PlayerApp, snap_compare) -> None:
    assert snap_compare(app, press=["question_mark"], terminal_size=SIZE, run_before=loaded)


def test_confidence_colouring(app: PlayerApp, snap_compare) -> None:
    assert snap_compare(app, press=["9", "c"], terminal_size=SIZE, run_before=loaded)


def test_no_color(tmp_path: Path, snap_compare, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = PlayerApp(FileSource.open(write_trace(tmp_path / "run.trace")))
    assert snap_compare(app, press=["6", "tab", "tab"], terminal_size=SIZE, run_before=loaded)


def test_remasked_token_history(tmp_path: Path, snap_compare) -> None:
    app = PlayerApp(FileSource.open(remasking_trace(tmp_path / "remask.trace")))
    assert snap_compare(app, press=["right"] * 6 + ["tab"] * 4, terminal_size=SIZE, run_before=loaded)


def test_hostile_token_texts(tmp_path: Path, snap_compare) -> None:
    app = PlayerApp(FileSource.open(hostile_trace(tmp_path / "hostile.trace")))
    assert snap_compare(app, press=["end", "tab", "tab"], terminal_size=SIZE, run_before=loaded)


def test_revisions_on_screen(tmp_path: Path, snap_compare) -> None:
    # a WINO run (format 2) after step 3: " answer" revised from " the" (under the cursor: its
    # history and a second look), "." at position 4 re-masked; the timeline marks step 2
    app = PlayerApp(FileSource.open(revising_trace(tmp_path / "wino.trace")))
    assert snap_compare(app, press=["right"] * 3 + ["tab"] * 2, terminal_size=SIZE, run_before=loaded)


def test_narrow_without_panels_a_masked_token_picked_60x20(app: PlayerApp, snap_compare) -> None:
    assert snap_compare(app, press=["5", *["shift+tab"] * 3], terminal_size=(60, 20), run_before=loaded)
