"""Trace files stay byte-compatible: the writer writes, for the same run, the bytes that the
writer of llada-tui before issue 12's redesign wrote (tests/data/*.trace, made by that version)."""

from __future__ import annotations

from pathlib import Path

from synthetic_traces import remasking_trace, write_trace

DATA = Path(__file__).parent / "data"


def test_a_complete_run_is_written_byte_for_byte_as_before(tmp_path: Path) -> None:
    written = remasking_trace(tmp_path / "run.trace")
    assert written.read_bytes() == (DATA / "remasking.trace").read_bytes()


def test_a_run_cut_short_is_written_byte_for_byte_as_before(tmp_path: Path) -> None:
    written = write_trace(tmp_path / "run.trace", ending="none", stop_after=5)
    assert written.read_bytes() == (DATA / "cut_short.trace").read_bytes()
