"""An asciicast (v2) of the player playing a run: the real PlayerApp, its terminal output recorded.

The app runs as in a terminal of the cast's size, through a driver that keeps what it writes
instead of sending it anywhere; the player is told to play, and the cast gets one frame per
step at the player's default speed. Its playback clock is the cast's time, not the wall
clock: each step is shown, drawn and recorded in turn, however long drawing takes, so the
cast plays at exactly that speed. Colours are truecolor, as asciinema's player shows them.
What the app writes is what a terminal would get: token texts already made inert by the
player (core.inert), the app's own escape codes, nothing else.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Callable
from typing import IO

from rich.console import Console
from textual.driver import Driver
from textual.drivers.headless_driver import HeadlessDriver

from llada_tui.core.inert import inert_text
from llada_tui.core.trace_reader import Trace
from llada_tui.tui.app import PlayerApp
from llada_tui.tui.playback import Playback
from llada_tui.tui.sources.file import FileSource
from llada_tui.tui.trace_view import DEFAULT_SPEED, SPEEDS

HIDE_CURSOR = "\x1b[?25l"
LOAD_TIMEOUT_S = 60.0

Progress = Callable[[int, int], None]  # (frames recorded, frames in all)
Event = tuple[float, str]  # (seconds from the start, what the terminal received)


def recording_driver(sink: list[str]) -> type[Driver]:
    """A driver for a terminal that is not there: what the app writes goes to `sink`."""

    class RecordingDriver(HeadlessDriver):
        @property
        def is_headless(self) -> bool:
            return False  # so that the app draws

        def write(self, data: str) -> None:
            sink.append(data)

    return RecordingDriver


class CastClock:
    """The playback's clock: the cast's time, moved by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def record_events(
    trace: Trace, width: int, height: int, confidence: bool = False, progress: Progress | None = None
) -> list[Event]:
    """The player's output while it plays the trace from step 0 to the end, a frame per step."""
    sink: list[str] = []
    app = PlayerApp(FileSource(trace))
    app.driver_class = recording_driver(sink)
    app.console = Console(
        color_system="truecolor",
        file=io.StringIO(),
        force_terminal=True,
        legacy_windows=False,
        markup=False,
        highlight=False,
        emoji=False,
        safe_box=False,
        soft_wrap=False,
    )
    speed = SPEEDS[DEFAULT_SPEED]
    events: list[Event] = []

    def take(time: float) -> None:
        if sink:
            events.append((time, "".join(sink)))
            sink.clear()

    async with app.run_test(headless=False, size=(width, height)) as pilot:
        view = app.view
        waited = 0.0
        while not view.recording.ended:  # the file source delivers in a worker thread
            if waited > LOAD_TIMEOUT_S:
                raise TimeoutError("the player did not load the trace")
            await pilot.pause(0.01)
            waited += 0.01
        length = view.recording.length
        clock = CastClock()
        playback = Playback(speed, follows=False, clock=clock)
        playback.grow(length)
        playback.finish()
        view.playback = playback
        if confidence:
            await pilot.press("c")
        await pilot.press("space")
        await pilot.pause()
        sink.insert(0, HIDE_CURSOR)
        take(0.0)
        for t in range(1, length + 1):
            clock.now = t / speed
            view.go_to(t)
            await pilot.pause()
            take(clock.now)
            if progress is not None:
                progress(t, length)
        sink.clear()  # whatever quitting draws is no part of the run
    return events


def write_cast(
    trace: Trace,
    file: IO[str],
    width: int = 100,
    height: int = 30,
    confidence: bool = False,
    progress: Progress | None = None,
) -> int:
    """Write an asciicast v2 of the player playing the trace; returns the number of events."""
    events = asyncio.run(record_events(trace, width, height, confidence, progress))
    header = {
        "version": 2,
        "width": width,
        "height": height,
        "title": f"llada-tui play: {inert_text(trace.header.prompt_text)[:200]}",
        "env": {"TERM": "xterm-256color"},
    }
    file.write(json.dumps(header, ensure_ascii=True) + "\n")
    for time, data in events:
        file.write(json.dumps([round(time, 6), "o", data], ensure_ascii=True) + "\n")
    return len(events)
