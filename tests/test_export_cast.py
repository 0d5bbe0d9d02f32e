"""The asciicast of the player (tui/cast.py): a v2 header, output events a frame per step at the
player's default speed, the run on screen, and nothing from a trace reaching it as a control."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

from synthetic_traces import hostile_trace

from llada_tui.core.trace_reader import load_trace
from llada_tui.tui.cast import write_cast

LILY = Path(__file__).resolve().parent.parent / "sample_traces" / "lily.trace"
# The player's own escape codes: CSI sequences (colours, cursor moves, hiding the cursor) and
# Textual's pointer-shape OSC. Whatever is left must be plain text and newlines.
OWN_CODES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\]22;[a-z-]*\x07")
RAW_CONTROLS = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200b-\u200f]")
CURSOR_ROW = re.compile(r"\x1b\[(\d+);(\d+)H")


def cast_of(path: Path, **options: object) -> tuple[dict, list[list]]:
    text = io.StringIO()
    write_cast(load_trace(path), text, **options)
    header, *events = (json.loads(line) for line in text.getvalue().splitlines())
    return header, events


def test_the_cast_is_asciicast_v2_with_a_frame_per_step() -> None:
    seen = []
    text = io.StringIO()
    events_written = write_cast(load_trace(LILY), text, progress=lambda done, total: seen.append((done, total)))
    assert text.getvalue().isascii()
    header, *events = (json.loads(line) for line in text.getvalue().splitlines())
    assert header["version"] == 2 and (header["width"], header["height"]) == (100, 30)
    assert header["title"].startswith("llada-tui play: Lily can run")
    assert len(events) == events_written == 65  # the first screen, then one per step
    assert seen[-1] == (64, 64)
    for event in events:
        assert len(event) == 3 and isinstance(event[0], float) and event[1] == "o" and isinstance(event[2], str)
    times = [event[0] for event in events]
    assert times == sorted(times) and times[0] == 0.0
    assert times[1:] == [t / 10 for t in range(1, 65)]  # the player's default speed, 10 steps a second


def test_the_cast_shows_the_player_playing_the_run() -> None:
    _, events = cast_of(LILY)
    plain = [OWN_CODES.sub("", event[2]) for event in events]
    assert "demo (float32 cpu) · 64 tokens · 64 steps" in plain[0] and "step 0/64" in plain[0]
    assert "playing" in plain[30] and "10 steps/s" in plain[30] and "step 30/64" in plain[30]
    assert "step 64/64" in plain[-1]
    screen = "".join(plain)
    assert "The answer is 72." in screen and "kilometers. Total: 48 + 24 = 72" in screen
    for event in events:  # drawn for a terminal of the cast's size
        rows = [int(row) for row, _ in CURSOR_ROW.findall(event[2])]
        assert rows and max(rows) <= 30


def test_the_cast_takes_its_size_and_colour_mode() -> None:
    header, events = cast_of(LILY, width=80, height=24, confidence=True)
    assert (header["width"], header["height"]) == (80, 24)
    screen = OWN_CODES.sub("", "".join(event[2] for event in events))
    assert "conf" in screen and "commit step" not in screen  # the legend explains confidence
    rows = [int(row) for event in events for row, _ in CURSOR_ROW.findall(event[2])]
    assert max(rows) == 24


def test_hostile_token_texts_reach_the_cast_inert(tmp_path: Path) -> None:
    _, events = cast_of(hostile_trace(tmp_path / "hostile.trace"))
    for event in events:
        assert not RAW_CONTROLS.search(OWN_CODES.sub("", event[2]).replace("\n", ""))
    screen = OWN_CODES.sub("", "".join(event[2] for event in events))
    assert "␛]0;pwned␇" in screen and "⇄gnirts" in screen  # shown as their marks
