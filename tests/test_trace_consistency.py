"""Issue 11.19: a trace must agree with itself. Data after the end record, more steps than the
header declares, or an end that says "complete" when the steps do not add up are damage: the
steps before stay, and the trace is not complete."""

from __future__ import annotations

from pathlib import Path

import pytest
from synthetic_traces import records_of, write_records, write_trace

from llada_tui.cli.main import main
from llada_tui.core.trace_reader import load_trace


def trace_records(tmp_path: Path, **options: object) -> list[dict]:
    return records_of(write_trace(tmp_path / "run.trace", **options))


def info(path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["info", str(path)]) == 0
    return capsys.readouterr().out


def test_steps_after_the_end_record_are_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = trace_records(tmp_path, steps=4, block_length=32)  # 4 steps
    header, steps, end = records[0], records[1:5], records[5]
    end["status"], end["final_ids"] = "interrupted", b""
    path = write_records(tmp_path / "more.trace", [header, *steps[:2], end, *steps[2:]])
    trace = load_trace(path)
    assert [s.index for s in trace.steps] == [0, 1]
    assert trace.warning == "damaged after step 2 of 4: data after the end record"
    assert not trace.complete
    assert "data after the end record" in info(path, capsys)


def test_anything_after_a_complete_end_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = trace_records(tmp_path)
    for n, tail in enumerate([b"\x00", b"garbage after the end", b"\x81"]):  # \x81: a record cut short
        path = write_records(tmp_path / f"tail{n}.trace", records)
        path.write_bytes(path.read_bytes() + tail)
        trace = load_trace(path)
        assert len(trace.steps) == 16 and trace.end is not None
        assert trace.warning == "damaged after step 16 of 16: data after the end record"
        assert not trace.complete
        assert "data after the end record" in info(path, capsys)


def test_steps_beyond_the_headers_count_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = trace_records(tmp_path, steps=8, block_length=32)  # one block of 8 steps
    records[0]["params"]["steps"] = 1
    path = write_records(tmp_path / "one.trace", records)
    trace = load_trace(path)
    assert [s.index for s in trace.steps] == [0]
    assert trace.warning == "damaged after step 1 of 1: more steps than the header's 1"
    out = info(path, capsys)
    assert "more steps than the header's 1" in out and "8 of 1" not in out


def test_a_complete_end_must_match_the_header(tmp_path: Path) -> None:
    records = trace_records(tmp_path)
    early = write_records(tmp_path / "early.trace", [*records[:3], records[-1]])
    trace = load_trace(early)
    assert len(trace.steps) == 2 and trace.end is None and not trace.complete
    assert trace.warning == "damaged after step 2 of 16: the end record says complete after 2 of 16 steps"

    records[-1]["final_ids"] = records[-1]["final_ids"][:8]
    short = load_trace(write_records(tmp_path / "short.trace", records))
    assert len(short.steps) == 16 and not short.complete
    assert short.warning == "damaged after step 16 of 16: the end record's answer has 2 of 32 tokens"


def test_an_interrupted_end_before_the_last_step_is_fine(tmp_path: Path) -> None:
    trace = load_trace(write_trace(tmp_path / "run.trace", ending="interrupted", stop_after=5))
    assert len(trace.steps) == 5
    assert trace.warning == "interrupted after step 5 of 16: cancelled by the user"
