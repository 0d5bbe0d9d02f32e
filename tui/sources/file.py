"""A finished trace file, read in full before the app starts."""

from __future__ import annotations

import threading
from pathlib import Path

from llada_tui.core.trace_reader import Trace, load_trace
from llada_tui.tui.sources.messages import HeaderArrived, RunEnded, StepsArrived
from llada_tui.tui.sources.source import Deliver, Source


class FileSource(Source):
    """A trace read in full before the app starts, so that bad files fail before the first frame."""

    def __init__(self, trace: Trace, path: Path | None = None):
        self.trace = trace
        self.path = path

    @classmethod
    def open(cls, path: str | Path) -> FileSource:
        """Read a trace; raises TraceError with a one-line message if nothing in it can be played."""
        return cls(load_trace(path), Path(path))

    def run(self, deliver: Deliver, stop: threading.Event) -> None:
        deliver(HeaderArrived(self.trace.header))
        if self.trace.steps:
            deliver(StepsArrived(self.trace.steps))
        deliver(RunEnded(self.trace.end, self.trace.warning))
